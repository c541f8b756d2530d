-- Seconds a block flag still lasts (0 when not blocked). Read-only.
-- KEYS[1]: the flag {u = blocked until}
-- ARGV: now ('' = the server's TIME)
-- Returns the seconds left as '%.17g'.
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end
local old = redis.call('HGET', KEYS[1], 'u')
if not old then
  return '0'
end
local left = tonumber(old) - now
if left < 0 then left = 0 end
return string.format('%.17g', left)
