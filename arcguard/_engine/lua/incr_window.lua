-- A counter living `window` seconds from its first increment
-- (a port of MemoryStore.incr_window).
-- KEYS[1]: the counter's hash {s = start, c = count}
-- ARGV: now ('' = the server's TIME; preamble.lua makes it `now`), ttl slack (ms), window (s), amount
-- Returns the count after the increment.
local slack = tonumber(ARGV[2])
local w = tonumber(ARGV[3])
local amount = tonumber(ARGV[4])

local s = redis.call('HMGET', KEYS[1], 's', 'c')
local start, count
if s[1] and now < tonumber(s[1]) + w then
  start, count = tonumber(s[1]), tonumber(s[2]) + amount
else
  start, count = now, amount
end
redis.call('HSET', KEYS[1], 's', string.format('%.17g', start), 'c', string.format('%d', count))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((start + w - now) * 1000)) + slack)
return count
