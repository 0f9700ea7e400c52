-- `safetynet bench replies`: wrk rotating over real reply links.
-- wrk -s bench-replies.lua URL -- TOKENS_FILE GET|POST KEY_PREFIX START
-- POST sends the reply page's one-tap form with a fresh idempotency key each time (every request
-- is an answer, not a retry); 1 in 50 answers is need_help.

local tokens = {}
local method = "GET"
local prefix = "bench"
local i = 0
local n = 0

function init(args)
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = line
  end
  method = args[2] or "GET"
  prefix = args[3] or "bench"
  i = tonumber(args[4] or "0") % #tokens
end

local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function request()
  i = i % #tokens + 1
  if method == "POST" then
    n = n + 1
    local status = "safe"
    if n % 50 == 0 then
      status = "need_help"
    end
    return wrk.format("POST", "/r/" .. tokens[i], form, "status=" .. status .. "&k=" .. prefix .. string.format("%08d", n))
  end
  return wrk.format("GET", "/r/" .. tokens[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"non_2xx":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
