-- Seconds a block flag still lasts (0 when not blocked). Read-only.
-- KEYS[1]: the flag {u = blocked until}
-- ARGV: now ('' = the server's TIME; preamble.lua makes it `now`)
-- Returns the seconds left as '%.17g'.
local old = redis.call('HGET', KEYS[1], 'u')
if not old then
  return '0'
end
local left = tonumber(old) - now
if left < 0 then left = 0 end
return string.format('%.17g', left)
