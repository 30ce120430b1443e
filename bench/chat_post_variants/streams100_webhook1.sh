# Variant of bench/chat_post_streams.sh: the case, both at once. 100 open streams (one
# per session, every message pushed, each run checked for gaps) and one webhook endpoint
# subscribed to `message.created` (bench/chat_post_variants/webhook1.sh).
# shellcheck source=bench/chat_post_variants/webhook1.sh
source bench/chat_post_variants/webhook1.sh
variant_start() {
  webhook_start "$@"
  streams100_start "$@"
  eval "streams_$(declare -f variant_stop)"
  variant_stop() { streams_variant_stop; webhook_check; }
}
