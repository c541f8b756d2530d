-- Sets or extends a block flag (never shortens one).
-- KEYS[1]: the flag {u = blocked until}
-- ARGV: now ('' = the server's TIME), ttl slack (ms), block duration (s)
-- Returns 1.
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end
local slack = tonumber(ARGV[2])
local untilt = now + tonumber(ARGV[3])
local old = redis.call('HGET', KEYS[1], 'u')
if old and tonumber(old) >= untilt then
  return 1
end
redis.call('HSET', KEYS[1], 'u', string.format('%.17g', untilt))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((untilt - now) * 1000)) + slack)
return 1
