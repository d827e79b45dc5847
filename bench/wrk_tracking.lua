-- wrk script for `make bench`: GET the public tracking page of a random parcel from WAYBILL_TRACKING_FILE (one
-- tracking number a line). Prints one JSON line for the runner; only 200 answers count as served.
local numbers = {}
for line in io.lines(os.getenv("WAYBILL_TRACKING_FILE")) do
  numbers[#numbers + 1] = line
end
local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  served = 0
  other = 0
end

function request()
  return wrk.format("GET", "/track/" .. numbers[math.random(1, #numbers)] .. "/")
end

function response(status, headers, body)
  if status == 200 then
    served = served + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("served")
    bad = bad + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"served":%d,"not_served":%d,"socket_errors":%d,'
    .. '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, ok, bad, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
