-- wrk script: POST the JSON body in BENCH_BODY with the Authorization header in BENCH_AUTH.
-- A "{n}" in the body becomes a number of its own for each request (this run's start, the
-- thread, a count), so that the messages differ, as a real client's do.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tag", os.time() .. "-" .. threads)
end
if string.find(wrk.body, "{n}", 1, true) then
  local counter = 0
  request = function()
    counter = counter + 1
    local n = tag .. "-" .. counter
    return wrk.format(nil, nil, nil, (string.gsub(wrk.body, "{n}", n)))
  end
end
