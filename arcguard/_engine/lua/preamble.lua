-- Put in front of every script when it is loaded (redis.py: _script_source).
-- ARGV[1]: now in seconds, or '' for the Redis server's TIME (one clock for
-- every replica); the script reads the time as `now`.
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end
