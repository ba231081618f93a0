-- char_transformer.lua -- a tiny character-level Transformer language model
-- (GPT-style: token embedding + sinusoidal positions, a causal stack of
-- pre-norm nn.TransformerEncoderLayers, a final LayerNorm and a Linear head),
-- trained by ty.train.fit with AdamW (linear warm-up, cosine decay) on a text
-- of your choice -- by default the GNU GPL version 3, which every Debian system
-- ships as /usr/share/common-licenses/GPL-3 (35,149 bytes) -- then a sample
-- generated one character at a time through the key/value cache
-- (TransformerEncoder's cache= option) with temperature sampling.
--
--   tycho examples/char_transformer.lua [--epochs N] [--quick] [--text FILE]
--        [--prompt S] [--length N] [--temperature T] [--seed N] [--out DIR]
--
-- --quick trains one epoch (4 steps) on the first 5,000 characters (what the
-- tests run); the sample is then mostly noise. Writes
-- char_transformer.safetensors, char_transformer_curves.png,
-- char_transformer_history.json and char_transformer_sample.txt under --out
-- (default: the current directory).
--
-- Measured on a 2-core machine with the CPU backend (seeded: every run gives
-- the same numbers): 20 epochs (30 steps each, batch 32) in 96 s, training
-- loss 1.43, validation loss 2.0156 (perplexity 7.50; the validation text is
-- the GPL's last 10%, "How to Apply These Terms"), and the sample begins
--   The licenses for any (or propagation obligate that
--   copyright hoses fort or by a freeeer the software program, if that used
--   provided the receive this permision of the
-- The validation loss levels off near 2.0 (the text is small: more epochs
-- only overfit); --text with a larger file goes further.
local ty = require "tycho"
local nn = ty.nn

local USAGE = "usage: tycho examples/char_transformer.lua [--epochs N] [--quick] [--text FILE]\n" ..
   "       [--prompt S] [--length N] [--temperature T] [--seed N] [--out DIR]"
local function usage_error(msg)
   io.stderr:write("char_transformer: ", msg, "\n", USAGE, "\n")
   os.exit(2)
end

local epochs, quick, out = 20, false, "."
local text_path = "/usr/share/common-licenses/GPL-3"
local prompt, length, temperature, seed = "The licenses for ", 300, 0.8, 0
local length_given = false
local i = 1
local function value(name)
   local v = arg[i + 1]
   if v == nil then usage_error("option " .. name .. " needs a value") end
   i = i + 1
   return v
end
local function posint(name, v)
   v = math.tointeger(tonumber(v))
   if not v or v < 1 then usage_error(name .. " needs a positive integer") end
   return v
end
while arg and arg[i] do
   local a = arg[i]
   if a == "--epochs" then epochs = posint(a, value(a))
   elseif a == "--quick" then quick = true
   elseif a == "--text" then text_path = value(a)
   elseif a == "--prompt" then
      prompt = value(a)
      if prompt == "" then usage_error("--prompt needs at least one character") end
   elseif a == "--length" then length = posint(a, value(a)); length_given = true
   elseif a == "--temperature" then
      temperature = tonumber(value(a))
      if not temperature or temperature <= 0 then
         usage_error("--temperature needs a positive number")
      end
   elseif a == "--seed" then
      seed = math.tointeger(tonumber(value(a)))
      if not seed then usage_error("--seed needs an integer") end
   elseif a == "--out" then out = value(a)
   elseif a == "-h" or a == "--help" then print(USAGE) os.exit(0)
   else usage_error("unknown option " .. a) end
   i = i + 1
end
do -- the output directory must be writable before the epochs are spent
   local probe = out .. "/.char_transformer_probe"
   local f = io.open(probe, "wb")
   if not f then usage_error("--out " .. out .. ": not a writable directory") end
   f:close()
   os.remove(probe)
end
local text
do
   local f = io.open(text_path, "rb")
   if not f then usage_error("--text " .. text_path .. ": cannot read it") end
   text = f:read("a")
   f:close()
end

if #text < 2000 then
   usage_error(string.format("--text %s: %d bytes, too short (2,000 at least)", text_path, #text))
end

local t0 = ty.time()
ty.random.seed(seed)

-- hyperparameters: a context of 64 characters, 3 layers of width 96
local block, d_model, nhead, nlayers, batch = 64, 96, 4, 3, 32
if quick then
   text, epochs = text:sub(1, 5000), 1
   if not length_given then length = 80 end
end

local tok = ty.data.CharTokenizer(text)
local V = tok.vocab_size
for c in prompt:gmatch(utf8.charpattern) do    -- the prompt must use the text's characters
   local known = false
   for _, k in ipairs(tok.chars) do if k == c then known = true break end end
   if not known then usage_error(string.format("--prompt: %q is not in the text", c)) end
end
local ids = tok:encode(text)
local n = ids.shape[1]
local n_train = math.floor(n * 0.9)
local train_ids, val_ids = ids[{{1, n_train}}], ids[{{n_train + 1, n}}]
-- training pairs: windows every block/2 characters (y is x shifted by one);
-- validation: the last 10% of the text cut into windows that do not overlap
local train_ds = ty.data.SlidingWindow(train_ids, block, {stride = block // 2})
local nv = (n - n_train - 1) // block
local xval = val_ids[{{1, nv * block}}]:reshape(nv, block)
local yval = val_ids[{{2, nv * block + 1}}]:reshape(nv, block)
ty.eval(xval, yval)
print(string.format("%s: %d characters, vocabulary %d; %d training windows of %d, " ..
                    "%d for validation", text_path, n, V, #train_ds, block, nv))

-- the model: forward(x, {cache=, offset=}) -> logits (N, L, V)[, new cache]
local CharLM = nn.Module:extend("CharLM")
function CharLM:init()
   self.tok_emb = nn.Embedding(V, d_model)
   self.pos = nn.SinusoidalPositionalEncoding(d_model)
   self.blocks = nn.TransformerEncoder(
      nn.TransformerEncoderLayer(d_model, nhead, {dim_feedforward = 4 * d_model, dropout = 0.2,
                                                  activation = "gelu", norm_first = true}),
      nlayers)
   self.norm = nn.LayerNorm(d_model)
   self.head = nn.Linear(d_model, V)
end
function CharLM:forward(x, opts)
   opts = opts or {}
   local h = self.pos(self.tok_emb(x), {offset = opts.offset or 0})
   local cache
   if opts.cache then
      h, cache = self.blocks(h, {is_causal = true, cache = opts.cache})
   else
      h = self.blocks(h, {is_causal = true})
   end
   local logits = self.head(self.norm(h))
   if opts.cache then return logits, cache end
   return logits
end

local model = CharLM()
model:summary(ty.ones({batch, block}, {dtype = "int32"}))

-- next-character cross-entropy over every position of every window
local function lm_loss(logits, y)
   return ty.losses.cross_entropy(logits:reshape(-1, V), y:reshape(-1))
end

local loader = ty.data.DataLoader{train_ds, batch_size = batch, shuffle = true, seed = seed,
                                  drop_last = true}
local steps = #loader * epochs
local S = ty.optim.schedules
local warm = math.max(1, steps // 10)
local opt = ty.optim.AdamW{
   lr = S.join{schedules = {S.linear_warmup(3e-3, warm), S.cosine_decay(3e-3, steps - warm,
                                                                         {end_value = 1e-4})},
               boundaries = {warm}},
   weight_decay = 0.1, groups = {{match = {"*.bias", "*norm*"}, weight_decay = 0}}}

local curves = out .. "/char_transformer_curves.png"
local checkpoint = out .. "/char_transformer.safetensors"
local history = ty.train.fit{
   model = model, loss = lm_loss, optimizer = opt, data = loader,
   val_data = {xval, yval}, batch_size = 64, epochs = epochs, clip_norm = 1.0,
   callbacks = {
      ty.train.callbacks.ModelCheckpoint{path = checkpoint},
      ty.train.callbacks.PlotCurves{path = curves},
   },
}
history:save(out .. "/char_transformer_history.json")
local last = history.epochs[#history.epochs]
local val_loss = history.epoch.val_loss[#history.epoch.val_loss]
print(string.format("validation loss %.4f (perplexity %.2f) after %d epoch%s, %.1f s",
                    val_loss, math.exp(val_loss), last, last == 1 and "" or "s", ty.time() - t0))

-- generation: the prompt through the stack once, then one character at a time
-- with the key/value cache; each next character is drawn from
-- softmax(logits / temperature) by a cumulative-sum draw on ty.random keys.
-- The model was trained on windows of `block` characters: when the cache
-- reaches that length it is rebuilt from the last block/2 characters.
model:eval()
local key = ty.random.key(seed)
local function draw(logits)            -- logits (V,) -> a 1-based id
   local k
   k, key = table.unpack(ty.random.split(key))
   local c = ty.cumsum(ty.softmax(logits / temperature))
   local u = ty.random.uniform({}, {key = k})
   return math.min(c:lt(u):astype("int32"):sum():item() + 1, V)
end
local context = tok:encode(prompt):tolist()
local generated = {}
local cache, pos = {}, 0
local logits
local function feed(tokens)            -- a table of ids through the cached stack
   logits, cache = model(ty.array({tokens}, {dtype = "int32"}), {cache = cache, offset = pos})
   pos = pos + #tokens
end
local tg = ty.time()
feed(context)
for _ = 1, length do
   local id = draw(logits[{1, -1}])
   generated[#generated + 1] = id
   context[#context + 1] = id
   if pos >= block then               -- restart the cache from the recent context
      cache, pos = {}, 0
      feed(table.move(context, #context - block // 2 + 1, #context, 1, {}))
   else
      feed({id})
   end
end
local sample = prompt .. tok:decode(generated)
print(string.format("sample (%d characters, temperature %g, %.1f s):", length, temperature,
                    ty.time() - tg))
print(sample)
do
   local f = assert(io.open(out .. "/char_transformer_sample.txt", "wb"))
   f:write(sample, "\n")
   f:close()
end
print("curves: " .. curves .. "   checkpoint: " .. checkpoint)
return history, sample
