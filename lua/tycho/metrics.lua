-- tycho.metrics -- ty.metrics (being written).
local ty = require "tycho"

local M = ty.metrics or {}
ty.metrics = M
M.__doc = "ty.metrics"
return M
