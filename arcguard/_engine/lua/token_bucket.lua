-- Token bucket check-and-update; a port of ratelimit.token_bucket_hit
-- (same floating-point operations in the same order).
-- KEYS[1]: the bucket's hash {t = tokens, l = time of last update}
-- ARGV: now ('' = the server's TIME; preamble.lua makes it `now`), ttl slack (ms), capacity, interval (s), refill, cost
-- Returns {allowed (0/1), remaining, reset as '%.17g'}.
local slack = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local interval = tonumber(ARGV[4])
local refill = tonumber(ARGV[5])
local cost = tonumber(ARGV[6])

local tokens, last
local s = redis.call('HMGET', KEYS[1], 't', 'l')
if s[1] then
  local slast = tonumber(s[2])
  local elapsed = now - slast
  if elapsed < 0 then elapsed = 0 end
  tokens = tonumber(s[1]) + elapsed * refill / interval
  if tokens > cap then tokens = cap end
  if now > slast then last = now else last = slast end
else
  tokens, last = cap, now
end
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
local whole = math.floor(tokens)
local reset = 0
if tokens < cap then
  reset = (whole + 1 - tokens) * interval / refill
end
local expiry = last + (cap - tokens) * interval / refill
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'l', string.format('%.17g', last))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((expiry - now) * 1000)) + slack)
return {allowed, whole, string.format('%.17g', reset)}
