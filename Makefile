# tycho -- build, test and set-up. `make deps` installs the Debian packages.
CC      ?= cc
PREFIX  ?= /usr/local
OPT     ?= -O3
CFLAGS  := -std=c11 $(OPT) -fno-math-errno -g -Wall -Wextra -Werror -fPIC -pthread -D_GNU_SOURCE -Icore
LUA_CFLAGS := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
LUA_LIBS   := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)
CORE_LIBS  := -lvulkan -lopenblas -lz -lm -lpthread
VIZ_LIBS   := -lplot -lgvc -lcgraph
GLSLC      ?= glslc
GLSLFLAGS  := --target-env=vulkan1.2 -O -Ikernels
B := build

DEB_PACKAGES := build-essential pkg-config liblua5.4-dev lua5.4 libreadline-dev \
  libvulkan-dev libshaderc-dev glslc libplot-dev libgraphviz-dev graphviz \
  libopenblas-dev zlib1g-dev mesa-vulkan-drivers vulkan-validationlayers \
  vulkan-tools dataset-fashion-mnist python3 python3-numpy python3-torch tmux valgrind

CORE_SRC := $(wildcard core/*.c)
LUAB_SRC := $(wildcard lua/*.c)
VIZ_SRC  := $(wildcard viz/*.c)
REPL_SRC := $(wildcard repl/*.c)
LUA_FILES := $(sort $(wildcard lua/tycho/*.lua))
CTEST_SRC := $(wildcard tests/c/*.c)
KERNEL_SRC := $(sort $(wildcard kernels/*.comp))
KERNEL_SPV := $(KERNEL_SRC:kernels/%.comp=$(B)/kernels/%.spv)

CORE_OBJ := $(CORE_SRC:%.c=$(B)/%.o) $(B)/vk_shaders.o
LUAB_OBJ := $(LUAB_SRC:%.c=$(B)/%.o) $(B)/lua_embedded.o
VIZ_OBJ  := $(VIZ_SRC:%.c=$(B)/%.o)
REPL_OBJ := $(REPL_SRC:%.c=$(B)/%.o)

.PHONY: FORCE all deps test test-c test-lua test-repl test-validation demo install clean \
  check-memory bench bench-vulkan
all: tycho libtycho.a tycho.so

$(B)/%.o: %.c $(wildcard core/*.h lua/*.h viz/*.h repl/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LUA_CFLAGS) -c $< -o $@

$(B)/embed: tools/embed.c
	@mkdir -p $(B)
	$(CC) -O2 -Wall -o $@ $<

# The Lua standard library of tycho, embedded as package.preload entries.
# (the list file changes when a module is added or removed)
$(B)/lua_files.txt: FORCE
	@mkdir -p $(B); echo '$(LUA_FILES)' | cmp -s - $@ || echo '$(LUA_FILES)' > $@

$(B)/lua_embedded.c: $(B)/embed $(LUA_FILES) $(B)/lua_files.txt
	$(B)/embed lua $(LUA_FILES) > $@

$(B)/lua_embedded.o: $(B)/lua_embedded.c
	$(CC) $(CFLAGS) -c $< -o $@

# Vulkan kernels: kernels/*.comp -> SPIR-V -> vk_shaders[] (core/vk.h).
$(B)/kernels/%.spv: kernels/%.comp $(wildcard kernels/*.glsl)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLFLAGS) -o $@ $<

$(B)/kernel_files.txt: FORCE
	@mkdir -p $(B); echo '$(KERNEL_SRC)' | cmp -s - $@ || echo '$(KERNEL_SRC)' > $@

$(B)/vk_shaders.c: $(B)/embed $(KERNEL_SPV) $(B)/kernel_files.txt
	$(B)/embed spv $(KERNEL_SPV) > $@

$(B)/vk_shaders.o: $(B)/vk_shaders.c core/vk.h core/internal.h core/tycho.h
	$(CC) $(CFLAGS) -c $< -o $@

libtycho.a: $(CORE_OBJ)
	rm -f $@ && ar rcs $@ $^

tycho.so: $(LUAB_OBJ) $(VIZ_OBJ) $(CORE_OBJ)
	$(CC) -shared -o $@ $^ $(VIZ_LIBS) $(CORE_LIBS)

tycho: $(REPL_OBJ) $(LUAB_OBJ) $(VIZ_OBJ) libtycho.a
	$(CC) -o $@ $(REPL_OBJ) $(LUAB_OBJ) $(VIZ_OBJ) libtycho.a $(LUA_LIBS) -lreadline $(VIZ_LIBS) $(CORE_LIBS) -ldl

$(B)/tests/c/run_tests: $(CTEST_SRC) libtycho.a $(wildcard tests/c/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(CTEST_SRC) libtycho.a $(CORE_LIBS)

# viz/ C tests: a binary of their own (it links libplot and graphviz)
$(B)/tests/c/test_viz: tests/c/viz/test_viz.c $(VIZ_OBJ) libtycho.a viz/viz.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iviz -o $@ $< $(VIZ_OBJ) libtycho.a $(VIZ_LIBS) $(CORE_LIBS)

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

test: deps
	@$(MAKE) --no-print-directory all $(B)/tests/c/run_tests $(B)/tests/c/test_viz
	@echo "== C tests";    $(B)/tests/c/run_tests
	@echo "== viz C tests"; $(B)/tests/c/test_viz
	@echo "== Lua tests";  ./tycho tests/lua/run.lua
	@echo "== module test"; lua5.4 -e 'package.cpath="./?.so;"..package.cpath; local ty=require "tycho"; assert(ty.ones{3}:sum():item()==3); print("require \"tycho\" from lua5.4: ok")'
	@echo "== REPL tests"; sh tests/repl/run.sh

# The Vulkan tests (C suite and Lua tests on vulkan:0) under the Khronos
# validation layer with synchronization validation; any error it reports
# fails the run (TYCHO_VALIDATION=1 installs a messenger that counts them:
# the next synchronize returns an error and the process exits with 1).
VALIDATION_ENV := TYCHO_VALIDATION=1 TYCHO_DEVICE=vulkan \
  VK_INSTANCE_LAYERS=VK_LAYER_KHRONOS_validation \
  VK_LAYER_ENABLES=VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT
test-validation: all $(B)/tests/c/run_tests
	@echo "== C tests (Vulkan, validation layer)"
	$(VALIDATION_ENV) $(B)/tests/c/run_tests
	@echo "== Lua tests (Vulkan, validation layer)"
	$(VALIDATION_ENV) ./tycho tests/lua/run.lua

bench-vulkan: all
	sh bench/run_vulkan.sh

# The Lua suite on the CPU backend under valgrind. No Vulkan driver is
# loaded (the software driver and the loader have leaks of their own).
check-memory: all
	TYCHO_DEVICE=cpu VK_DRIVER_FILES=/nonexistent VK_ICD_FILENAMES=/nonexistent valgrind --error-exitcode=1 --leak-check=full \
	  --errors-for-leak-kinds=definite --suppressions=tests/valgrind.supp \
	  ./tycho tests/lua/run.lua

# The main job: an MLP on Fashion-MNIST trained by ty.train.fit (summary,
# progress bar, test accuracy, fashion_mlp_curves.png and a checkpoint).
demo: deps
	@$(MAKE) --no-print-directory all
	./tycho examples/fashion_mlp.lua

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/lua/5.4 \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib
	install -m 755 tycho $(DESTDIR)$(PREFIX)/bin/tycho
	install -m 644 tycho.so $(DESTDIR)$(PREFIX)/lib/lua/5.4/tycho.so
	install -m 644 libtycho.a $(DESTDIR)$(PREFIX)/lib/libtycho.a
	install -m 644 core/tycho.h $(DESTDIR)$(PREFIX)/include/tycho.h
	install -m 644 repl/tycho.1 $(DESTDIR)$(PREFIX)/share/man/man1/tycho.1

bench: all
	sh bench/run.sh

clean:
	rm -rf $(B) tycho tycho.so libtycho.a
