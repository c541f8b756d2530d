-- Sets or extends a block flag (never shortens one).
-- KEYS[1]: the flag {u = blocked until}
-- ARGV: now ('' = the server's TIME; preamble.lua makes it `now`), ttl slack (ms), block duration (s)
-- Returns 1.
local slack = tonumber(ARGV[2])
local untilt = now + tonumber(ARGV[3])
local old = redis.call('HGET', KEYS[1], 'u')
if old and tonumber(old) >= untilt then
  return 1
end
redis.call('HSET', KEYS[1], 'u', string.format('%.17g', untilt))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((untilt - now) * 1000)) + slack)
return 1
