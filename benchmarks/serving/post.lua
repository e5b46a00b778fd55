-- wrk script: send the same request (method, body file, content type) on every call and
-- print one machine-readable line with the counts and latency percentiles at the end.
-- Usage: wrk ... -s post.lua URL -- METHOD BODY_FILE|- CONTENT_TYPE
local request_bytes

function init(args)
  local method = args[1] or "POST"
  local body = nil
  if args[2] and args[2] ~= "-" then
    local f = assert(io.open(args[2], "rb"))
    body = f:read("*a")
    f:close()
  end
  local headers = {}
  if body then
    headers["Content-Type"] = args[3] or "application/json"
  end
  request_bytes = wrk.format(method, nil, headers, body)
end

function request()
  return request_bytes
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,\"connect\":%d," ..
    "\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d,\"p50_us\":%d,\"p90_us\":%d," ..
    "\"p99_us\":%d,\"max_us\":%d,\"mean_us\":%.1f}\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
