-- wrk script: POST the JSON body in BENCH_BODY with the Authorization header in BENCH_AUTH.
-- A "{n}" in the body becomes a number of its own for each request (this run's start, the
-- thread, a count), so that the messages differ, as a real client's do. With BENCH_KEY set,
-- each request carries an Idempotency-Key of its own, made the same way.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tag", os.time() .. "-" .. threads)
end
local keyed = os.getenv("BENCH_KEY") ~= nil and os.getenv("BENCH_KEY") ~= ""
if keyed or string.find(wrk.body, "{n}", 1, true) then
  local counter = 0
  request = function()
    counter = counter + 1
    local n = tag .. "-" .. counter
    local headers = nil
    if keyed then
      headers = {}
      for name, value in pairs(wrk.headers) do headers[name] = value end
      headers["Idempotency-Key"] = "bench-" .. n
    end
    return wrk.format(nil, nil, headers, (string.gsub(wrk.body, "{n}", n)))
  end
end
