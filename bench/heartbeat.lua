-- wrk script for bench/licensing.sh: every request is a lease heartbeat
-- (POST /api/v1/license/heartbeat) for a random lease id from the file named by the
-- LEASE_IDS environment variable.
local ids = {}

function init(args)
  local path = os.getenv("LEASE_IDS")
  for line in io.lines(path) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  math.randomseed(os.time())
end

function request()
  local body = '{"lease_id":"' .. ids[math.random(#ids)] .. '"}'
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end
