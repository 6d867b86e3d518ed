-- wrk script for bench/licensing.sh: every request is a lease heartbeat
-- (POST /api/v1/license/heartbeat) for a random lease id from the file named by the
-- LEASE_IDS environment variable. The Authorization header comes from wrk's -H.
local ids = {}

function init(args)
  for line in io.lines(os.getenv("LEASE_IDS")) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  math.randomseed(os.time())
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  return wrk.format(nil, nil, nil, '{"lease_id":"' .. ids[math.random(#ids)] .. '"}')
end
