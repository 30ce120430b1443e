-- wrk script for the chat POST benchmarks: cycles through the JSON bodies of the file in
-- $BODIES (one per line), and prints "rps=<requests per second> non2xx=<count>" at the end.
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
local i = math.random(#bodies)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format("rps=%d non2xx=%d errors=%d\n",
    math.floor(summary.requests / (summary.duration / 1e6)),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout))
end
