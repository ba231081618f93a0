#!/bin/sh
# run.sh -- tests of the `tycho` executable: the interactive REPL driven
# through a pseudo-terminal (a private tmux server), then the command line
# and piped input. Ends with "N passed, N failed"; exits 1 on a failure.
#
#   sh tests/repl/run.sh            (TYCHO=path/to/tycho to test another build)

set -u
cd "$(dirname "$0")/../.." || exit 1
TYCHO=${TYCHO:-./tycho}
case $TYCHO in /*) ;; *) TYCHO=$(pwd)/$TYCHO ;; esac
if [ ! -x "$TYCHO" ]; then
    echo "run.sh: $TYCHO is not built"
    echo "0 passed, 1 failed"
    exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tycho-repl-test.XXXXXX") || exit 1
SOCK=tycho-test-$$
passed=0
failed=0
WAIT=${TYCHO_TEST_WAIT:-10}         # seconds to wait for expected output

cleanup() {
    tmux -L "$SOCK" kill-server 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() {
    failed=$((failed + 1))
    echo "FAIL $1"
    shift
    [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/     | /'
}

# ---------------------------------------------------------------- tmux helpers

tm() { tmux -L "$SOCK" "$@"; }

# start SESSION [TERM]: a fresh REPL in a 100x30 window, HOME and history in
# the temporary directory.
start() {
    mkdir -p "$TMP/home"
    tm -f /dev/null new-session -d -s "$1" -x 100 -y 30 \
        "env -u INPUTRC HOME='$TMP/home' TYCHO_HISTORY='$TMP/history' \
         TERM=${2:-screen} '$TYCHO'"
    wait_for "$1" '^> ' || true
}

screen() { tm capture-pane -p -J -t "$1" 2>/dev/null; }
keys() { s=$1; shift; tm send-keys -t "$s" "$@"; }
type_line() { tm send-keys -t "$1" -l "$2" && tm send-keys -t "$1" Enter; }

# wait_for SESSION REGEX: polls the screen until a line matches (grep -E).
wait_for() {
    i=0
    while [ $i -lt $((WAIT * 20)) ]; do
        screen "$1" | grep -Eq -- "$2" && return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

# expect NAME SESSION REGEX: one test.
expect() {
    if wait_for "$2" "$3"; then
        pass "$1"
    else
        fail "$1" "expected /$3/ on screen:" "$(screen "$2")"
    fi
}

# wait_exit SESSION: true once the session has ended.
wait_exit() {
    i=0
    while [ $i -lt $((WAIT * 20)) ]; do
        tm has-session -t "$1" 2>/dev/null || return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

# clear SESSION: an empty screen, so that later matches are fresh.
clear_screen() { keys "$1" C-l; sleep 0.1; wait_for "$1" '^> $' || true; }

# ---------------------------------------------------------------- REPL (terminal)

terminal_tests() {
start a
expect "banner shows the version and the device" a "^tycho [0-9]+\.[0-9]+.*device"

type_line a '40 + 2'
expect "a bare expression is printed" a '^42$'

type_line a '1, "two", nil'
expect "several values are printed, tab-separated" a '^1 +two +nil$'

type_line a 'function dbl(x)'
expect "an incomplete chunk asks for more with >>" a '^>> $'
type_line a '  return 2 * x'
type_line a 'end'
type_line a 'dbl(1000)'
expect "a function defined over several lines works" a '^2000$'

type_line a 'error("boom")'
expect "an error prints its message" a 'stdin:1: boom'
expect "an error prints a traceback" a 'stack traceback'
type_line a '500 + 55'
expect "the session goes on after an error" a '^555$'

clear_screen a
type_line a 'while true do end'
sleep 0.3
keys a C-c
expect "Ctrl-C interrupts a loop" a 'interrupted'
type_line a '600 + 66'
expect "the next command works after Ctrl-C" a '^666$'

clear_screen a
type_line a 'm = ty.ones{800, 800} / 800'
type_line a 'y = m; for i = 1, 1000 do y = y:matmul(m) end; ty.eval(y)'
sleep 0.3
keys a C-c
expect "Ctrl-C stops an array evaluation" a 'interrupted'
type_line a 'm:sum()'
expect "the inputs of an interrupted evaluation stay valid" a '800'

clear_screen a
tm send-keys -t a -l 'garbage_text_xyz'
wait_for a 'garbage_text_xyz' || true
keys a C-c
type_line a '700 + 77'
if wait_for a '^777$' && ! screen a | grep -q 'garbage_text_xyz700'; then
    pass "Ctrl-C at the prompt clears the line"
else
    fail "Ctrl-C at the prompt clears the line" "$(screen a)"
fi

clear_screen a
type_line a 'tycho_test_value = 1'
tm send-keys -t a -l 'tycho_test_v'
keys a Tab
expect "Tab completes a global" a '^> tycho_test_value$'
keys a C-c

clear_screen a
tm send-keys -t a -l 'ty.matm'
keys a Tab
expect "Tab completes a field (ty.matm -> ty.matmul)" a '^> ty\.matmul'
keys a C-c

clear_screen a
type_line a 'cfg = {opt = {alpha = 1, beta = 2}}'
tm send-keys -t a -l 'cfg.opt.'
keys a Tab Tab
expect "Tab Tab lists the fields of a nested table" a 'alpha +beta'
keys a C-c

clear_screen a
type_line a 'x = ty.ones{3}'
tm send-keys -t a -l 'x:matm'
keys a Tab
expect "Tab completes an array method (x:matm -> x:matmul)" a '^> x:matmul'
keys a C-c

clear_screen a
tm send-keys -t a -l 'x.sh'
keys a Tab
expect "Tab completes an array field (x.sh -> x.shape)" a '^> x\.shape$'
keys a C-c

clear_screen a
tm send-keys -t a -l 'x.'
keys a Tab Tab
expect "Tab Tab lists the fields of an array" a 'T +device +dtype +ndim +shape +size'
keys a C-c

clear_screen a
type_line a 'reprobate_global = 1'
tm send-keys -t a -l 'ty.ones{3}:resh'
keys a Tab
expect "Tab after a call completes array methods (:resh -> :reshape)" a \
    '^> ty\.ones\{3\}:reshape$'
keys a C-c
clear_screen a
tm send-keys -t a -l 'ty.ones{3}:repr'
keys a Tab
sleep 0.3
if screen a | grep -q 'reprobate'; then
    fail "Tab after ':' never completes globals" "$(screen a)"
else
    pass "Tab after ':' never completes globals"
fi
keys a C-c

clear_screen a
type_line a 'obj = setmetatable({}, {__index = {frobnicate = print}})'
tm send-keys -t a -l 'obj:frob'
keys a Tab
expect "Tab completes a method through __index" a '^> obj:frobnicate'
keys a C-c

clear_screen a
type_line a 'help()'
expect "help() prints an overview" a 'complete names'
type_line a '?no_such_thing'
expect "?name asks for help" a '^no help for no_such_thing$'

type_line a 'tycho_hist_marker = 99'
sleep 0.2
keys a C-d
if wait_exit a; then pass "Ctrl-D exits"; else fail "Ctrl-D exits" "$(screen a)"; fi

start b
keys b Up
expect "history is kept across sessions" b '^> tycho_hist_marker = 99'
keys b C-c
keys b C-d
wait_exit b || true

start c dumb
type_line c '6 * 7 + 1000'
expect "works on a dumb terminal" c '^1042$'
type_line c 'for i = 1, 2 do'
type_line c '  print("dumb" .. i)'
type_line c 'end'
expect "multi-line input on a dumb terminal" c '^dumb2$'
keys c C-d
wait_exit c || true

tm kill-server 2>/dev/null
}

if command -v tmux > /dev/null 2>&1; then
    terminal_tests
else
    fail "tmux is installed (needed for the terminal tests; make deps)"
fi

# ---------------------------------------------------------------- command line and pipes

# run NAME EXPECTED_STATUS STDOUT_REGEX [STDERR_REGEX] -- COMMAND...
# (stdin of COMMAND is $TMP/stdin, written by the caller)
run() {
    name=$1 status=$2 out_re=$3 err_re=$4
    shift 5
    (cd "$TMP" && "$@" < "$TMP/stdin" > "$TMP/out" 2> "$TMP/err")
    got=$?
    if [ "$got" -ne "$status" ]; then
        fail "$name" "exit status $got, expected $status" "$(cat "$TMP/out" "$TMP/err")"
    elif [ -n "$out_re" ] && ! grep -Eq -- "$out_re" "$TMP/out"; then
        fail "$name" "stdout does not match /$out_re/:" "$(cat "$TMP/out")"
    elif [ -n "$err_re" ] && ! grep -Eq -- "$err_re" "$TMP/err"; then
        fail "$name" "stderr does not match /$err_re/:" "$(cat "$TMP/err")"
    else
        pass "$name"
    fi
}
input() { printf '%s\n' "$@" > "$TMP/stdin"; }

input 'ty.ones{3}:sum()'
run "piped input is REPL input: ty.ones{3}:sum() prints 3" 0 '(^|[^0-9.])3([^0-9]|$)' '' \
    -- "$TYCHO"

input '41 + 1'
run "piped input prints no prompt or banner" 0 '^42$' '' -- "$TYCHO"
if [ "$(cat "$TMP/out")" != "42" ]; then
    fail "piped output is only the value" "$(cat "$TMP/out")"
else
    pass "piped output is only the value"
fi

input 'function f(x)' '  return x + 1' 'end' 'f(41)'
run "piped input continues incomplete chunks" 0 '^42$' '' -- "$TYCHO"

input 'error("first")' 'print("after")'
run "piped input goes on after an error, exit status 1" 1 '^after$' 'first' -- "$TYCHO"

input 'x = = 1'
run "a syntax error in piped input gives exit status 1" 1 '' 'unexpected symbol' \
    -- "$TYCHO"

input ''
run "-e runs code" 0 '^2$' '' -- "$TYCHO" -e 'print(1+1)'
run "-e may be repeated" 0 '^3$' '' -- "$TYCHO" -e 'a = 1' -e 'print(a + 2)'
run "-e with an error: exit status 1" 1 '' '^tycho: .*oops' -- "$TYCHO" -e 'error("oops")'

input 'print(seen + 1)'
run "-i runs -e then the REPL" 0 '^8$' '' -- "$TYCHO" -e 'seen = 7' -i

cat > "$TMP/args.lua" <<'EOF'
print(arg[0], arg[1], arg[2], select("#", ...), ...)
print("interpreter", arg[-1] ~= nil)
EOF
input ''
run "a script gets arg and ..." 0 '^args.lua	a	b c	2	a	b c$' '' \
    -- "$TYCHO" args.lua a 'b c'
run "arg[-1] is the interpreter" 0 '^interpreter	true$' '' -- "$TYCHO" args.lua

printf 'print("stdin script", ...)\nreturn 1\n' > "$TMP/stdin"
run "tycho - runs stdin as a script" 0 '^stdin script	x$' '' -- "$TYCHO" - x

printf 'local function inner() error("deep") end\ninner()\n' > "$TMP/bad.lua"
input ''
run "a script error: message, traceback, exit status 1" 1 '' '^tycho: bad.lua:1: deep' \
    -- "$TYCHO" bad.lua
if grep -q 'stack traceback' "$TMP/err" && grep -q "in local 'inner'" "$TMP/err"; then
    pass "a script error shows the traceback"
else
    fail "a script error shows the traceback" "$(cat "$TMP/err")"
fi
run "a missing script: exit status 1" 1 '' 'cannot open' -- "$TYCHO" no_such_file.lua

run "--version" 0 '^tycho [0-9]+\.[0-9]+\.[0-9]+' '' -- "$TYCHO" --version
run "--help prints the usage" 0 '^usage: tycho' '' -- "$TYCHO" --help
run "an unknown option: usage on stderr, exit status 2" 2 '' '^usage: tycho' \
    -- "$TYCHO" --no-such-option
run "-e without code: exit status 2" 2 '' 'needs an argument' -- "$TYCHO" -e
run "tycho devices lists the devices" 0 '^(index|device) +name +type +memory' '' -- "$TYCHO" devices

input 'require("tycho") == ty'
run "require \"tycho\" returns the global ty" 0 '^true$' '' -- "$TYCHO"

input 'help(ty.matmul)'
run "help(ty.matmul) prints something" 0 '.' '' -- "$TYCHO"

# ---------------------------------------------------------------- tables at the prompt, help

input 'ty.ones{2, 3}.shape'
run "a table result prints as a constructor: {2, 3}" 0 '^\{2, 3\}$' '' -- "$TYCHO"

input 'ty.memory()'
run "ty.memory() prints its fields sorted" 0 \
    '^\{active = [0-9]+, cached = [0-9]+, limit = [0-9]+, peak = [0-9]+\}$' '' -- "$TYCHO"

input '{1, "2", {a = true}, [10] = false, x = ty.ones{2, 3}}'
run "nested tables, keys and arrays inside tables (short form)" 0 \
    '^\{1, "2", \{a = true\}, \[10\] = false, x = array\(shape=\(2,3\), dtype=float32\)\}$' \
    '' -- "$TYCHO"

input '{["a b"] = "x\ny", ["end"] = 1, [1.5] = 2}'
run "keys that are not names are bracketed, strings quoted" 0 \
    '^\{\[1\.5\] = 2, \["a b"\] = "x\\ny", \["end"\] = 1\}$' '' -- "$TYCHO"

input 't = {name = "t"}' 't.self = t' 't'
run "a cycle is shown, not followed" 0 '^\{name = "t", self = \{\.\.\.\} --\[\[cycle\]\]\}$' '' \
    -- "$TYCHO"

input 'big = {}' 'for i = 1, 500 do big[i] = i end' 'big'
run "a long table is truncated" 0 '\.\.\. \(400 more\),$' '' -- "$TYCHO"

input 'cfg = {optimizer = {name = "sgd", lr = 0.1, momentum = 0.9}, layers = {784, 256, 10}, seed = 42}' 'cfg'
run "a table wider than a line is indented" 0 '^  optimizer = \{lr = 0.1, momentum = 0.9, name = "sgd"\},$' \
    '' -- "$TYCHO"

input 'ty.ones{2}'
run "an array at the prompt still prints in full" 0 '^array\(\[1\., 1\.\], shape=\(2,\), dtype=float32\)$' \
    '' -- "$TYCHO"

input 'help(ty.random)'
run "help(ty.random) lists its functions with their descriptions" 0 \
    '^  uniform +Uniform draws in \[low, high\)\.$' '' -- "$TYCHO"

input 'help(string)'
run "help of a module lists its functions" 0 '^  gsub$' '' -- "$TYCHO"

input 'x = ty.ones{2, 3}' 'help(x)'
run "help(<array>) describes arrays instead of printing one" 0 '^  fields +x\.shape' '' \
    -- "$TYCHO"
if grep -q 'array(\[' "$TMP/out"; then
    fail "help(<array>) does not print the array" "$(cat "$TMP/out")"
else
    pass "help(<array>) does not print the array"
fi

input 'help()'
run "help() names no autograd or neural networks before they exist" 0 '^tycho .* -- lazy arrays' \
    '' -- "$TYCHO"
if ty_has=$(echo 'print(ty.grad ~= nil or nn ~= nil)' | "$TYCHO") && [ "$ty_has" = false ] \
    && grep -Eqi 'autograd|neural' "$TMP/out"; then
    fail "help() mentions autograd or neural networks" "$(cat "$TMP/out")"
else
    pass "help() mentions autograd or neural networks only when present"
fi

# ---------------------------------------------------------------- nn, optim, training at the prompt

input 'print(nn == ty.nn, optim == ty.optim)'
run "the REPL preloads nn and optim" 0 '^true	true$' '' -- "$TYCHO"

input 'm = nn.Linear(3, 2)' 'help(m)'
run "help(<module>) shows its class's doc" 0 '^ty\.nn\.Linear\(in_features' '' -- "$TYCHO"

input 'help(optim.SGD{lr = 0.1})' 'help(ty.train.History.new())'
run "help(<optimizer>), help(<history>) show their docs" 0 '^ty\.train\.History -- ' '' \
    -- "$TYCHO"
grep -q '^ty\.optim\.SGD' "$TMP/out" && pass "help(<optimizer>) is the optimizer's doc" \
    || fail "help(<optimizer>) is the optimizer's doc" "$(cat "$TMP/out")"

input 'help(ty.train)'
run "help(<module>) describes functions whose signature spans lines" 0 \
    '^  fit +Trains model' '' -- "$TYCHO"

input 'help(nn)'
run "help(<module>) lists public functions" 0 '^  relu ' '' -- "$TYCHO"
if grep -q '^  _' "$TMP/out"; then
    fail "help(<module>) hides private _functions" "$(cat "$TMP/out")"
else
    pass "help(<module>) hides private _functions"
fi

input 'ty.train.callbacks.EarlyStopping{patience = 2}'
run "a callback prints its settings" 0 '^EarlyStopping\{.*monitor="val_loss", patience=2' '' \
    -- "$TYCHO"

training_tests() {
    start t
    type_line t 'm = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))'
    clear_screen t
    tm send-keys -t t -l 'm.'
    keys t Tab Tab
    if wait_for t 'forward' && ! screen t | grep -q '_order'; then
        pass "Tab Tab on a module lists its methods, not its private fields"
    else
        fail "Tab Tab on a module lists its methods, not its private fields" "$(screen t)"
    fi
    keys t C-c
    clear_screen t
    tm send-keys -t t -l 'nn.Lin'
    keys t Tab
    expect "Tab completes nn classes (nn.Lin -> nn.Linear)" t '^> nn\.Linear'
    keys t C-c
    clear_screen t
    type_line t 'x = ty.random.normal{4000, 4}; y = (x:sum(-1):gt(0)):astype("int32") + 1'
    type_line t 'h = ty.train.fit{model = m, loss = "cross_entropy", optimizer = optim.SGD{lr = 0.01}, data = {x, y}, batch_size = 2, epochs = 100}'
    if wait_for t 'epoch 1/100 .*it/s'; then
        sleep 0.5
        keys t C-c
        expect "Ctrl-C during fit stops it and says so" t '^interrupted: training stopped in epoch 1'
        type_line t 'print("after", h.interrupted, #h.step.loss > 0)'
        expect "fit returned the History after Ctrl-C; the REPL goes on" t '^after +true +true$'
        type_line t 'h'
        expect "an interrupted History prints its steps" t '^History\(0 epochs, [0-9]+ steps, interrupted\)$'
    else
        fail "fit shows a progress bar at the prompt" "$(screen t)"
    fi
    keys t C-d
    wait_exit t || true
    tm kill-server 2>/dev/null
}
command -v tmux > /dev/null 2>&1 && training_tests

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
