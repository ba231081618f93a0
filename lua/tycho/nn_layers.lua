-- tycho.nn_layers -- adds convolution, pooling, normalisation, attention,
-- Transformer and recurrent layers to ty.nn (being written).
local ty = require "tycho"
local nn = ty.nn
return nn
