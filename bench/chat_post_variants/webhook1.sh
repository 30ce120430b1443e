# Variant of bench/chat_post_streams.sh: one active webhook endpoint subscribed to
# `message.created`, delivered by the server's own worker to a keep-alive receiver on loopback
# (bench/webhook_lib.sh) that answers 200, so every stored message is also one signed POST out.
# After the load it appends to $OUT/webhook-check how many deliveries were still pending when
# the load stopped and how long the worker took to deliver them all.
RPORT=${RECEIVER_PORT:-5083}
# shellcheck source=bench/webhook_lib.sh
source bench/webhook_lib.sh
webhook_start() {
  WEBHOOK_URL=$2
  start_receiver
  add_endpoint "$2"
  sleep 1.2 # the worker re-reads the subscriptions every second (poll_interval)
}
webhook_check() {
  local pending stored delivered start=$SECONDS
  pending=$(sql "$WEBHOOK_URL" "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
  for _ in $(seq 300); do
    [ "$(sql "$WEBHOOK_URL" "SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'")" = 0 ] && break
    sleep 0.1
  done
  stored=$(sql "$WEBHOOK_URL" "SELECT count(*) FROM chat_messages")
  delivered=$(sql "$WEBHOOK_URL" "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")
  echo "webhook: messages stored $stored, pending when the load stopped $pending, delivered $delivered within $((SECONDS - start)) s after: $([ "$stored" = "$delivered" ] && echo OK || echo BEHIND)" >> "$OUT/webhook-check"
}
variant_start() {
  webhook_start "$@"
  variant_stop() { webhook_check; }
}
