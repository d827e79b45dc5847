-- wrk script for `make bench`: POST /api/orders/ with 1 to 5 random SKUs, a fresh Idempotency-Key per request
-- and a customer's token (WAYBILL_TOKENS, comma-separated). Prints one JSON line for the runner.
local tokens = {}
for token in string.gmatch(os.getenv("WAYBILL_TOKENS") or "", "[^,]+") do
  tokens[#tokens + 1] = token
end
local skus = tonumber(os.getenv("WAYBILL_SKUS") or "1000")
local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  counter = 0
  created = 0
  other = 0
end

local address = '"shipping_address":{"name":"Flash Sale Buyer","line1":"1 Market Street","city":"Berlin",'
  .. '"postal_code":"10115","country":"DE"}'

function request()
  counter = counter + 1
  local n = math.random(1, 5)
  local seen, lines = {}, {}
  while #lines < n do
    local k = math.random(1, skus)
    if not seen[k] then
      seen[k] = true
      lines[#lines + 1] = string.format('{"sku":"SKU-%05d","quantity":%d}', k, math.random(1, 3))
    end
  end
  local body = "{" .. address .. ',"lines":[' .. table.concat(lines, ",") .. "]}"
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Token " .. tokens[math.random(1, #tokens)],
    ["Idempotency-Key"] = string.format("wrk-%d-%d-%d-%d", os.time(), tid, counter, math.random(1, 1000000000)),
  }
  return wrk.format("POST", "/api/orders/", headers, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("created")
    bad = bad + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"created":%d,"not_created":%d,"socket_errors":%d,'
    .. '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, ok, bad, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
