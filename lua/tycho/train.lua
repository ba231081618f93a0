-- tycho.train -- ty.train (being written).
local ty = require "tycho"

local M = ty.train or {}
ty.train = M
M.__doc = "ty.train"
return M
