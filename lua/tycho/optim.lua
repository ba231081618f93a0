-- tycho.optim -- ty.optim (being written).
local ty = require "tycho"

local M = ty.optim or {}
ty.optim = M
M.__doc = "ty.optim"
return M
