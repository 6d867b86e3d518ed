-- wrk script for bench/licensing.sh: every request is a POST whose JSON body is a random
-- line of the file named by the BODIES environment variable. The Authorization header
-- comes from wrk's -H.
local bodies = {}

function init(args)
  for line in io.lines(os.getenv("BODIES")) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  math.randomseed(os.time())
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  return wrk.format(nil, nil, nil, bodies[math.random(#bodies)])
end
