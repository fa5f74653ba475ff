#!/usr/bin/env bash
# `llmr chat` against the default model (no chat template: built-in chatml), driven through stdin:
# replies, KV-cache reuse across turns, /reset, /exit, EOF, and SIGINT (Ctrl-C) while a reply
# streams and at the prompt.
# Usage: chat_test.sh path/to/llmr   (from the repository root)
set -uo pipefail
llmr=$1
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
passes=0
pass() { passes=$((passes + 1)); echo "ok: $1"; }
fail() { failures=$((failures + 1)); echo "FAIL: $1"; }
seed=$RANDOM
chat=("$llmr" chat -n 12 -t 1 --seed $seed)

# Field N of stats line K on stderr: "[P prompt tokens, R reused from the cache, F prefilled | G generated ...".
stat() { grep "prompt tokens" "$1" | sed -n "${2}p" | tr -d '[,|' | awk -v f="$3" '{print $f}'; }

printf 'In the beginning God created\nAnd the earth was without form\n/reset\nAnd God said, Let there be light\n/exit\nthis line comes after /exit\n' |
  "${chat[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && pass "scripted chat exits 0" || fail "scripted chat: rc=$rc $(cat "$tmp/err")"
grep -q "no chat template.*chatml" "$tmp/err" && pass "note on the built-in template" || fail "no chatml note: $(cat "$tmp/err")"
turns=$(grep -c "prompt tokens" "$tmp/err")
[ "$turns" -eq 3 ] && pass "three replies, nothing after /exit" || fail "$turns turns: $(cat "$tmp/err")"
[ "$(grep -c "conversation cleared" "$tmp/err")" -eq 1 ] && pass "/reset acknowledged" || fail "/reset: $(cat "$tmp/err")"
[ "$(stat "$tmp/err" 1 11)" -gt 0 ] && [ "$(stat "$tmp/err" 3 11)" -gt 0 ] && [ "$(tr -d ' \n' <"$tmp/out" | wc -c)" -gt 10 ] &&
  pass "replies appear on stdout" || fail "replies: '$(cat "$tmp/out")' $(cat "$tmp/err")"
# Turn 2 re-renders turn 1: its tokens come from the cache, only the new suffix is prefilled.
p1=$(stat "$tmp/err" 1 1); p2=$(stat "$tmp/err" 2 1); r2=$(stat "$tmp/err" 2 4); f2=$(stat "$tmp/err" 2 9)
[ "$r2" -ge "$p1" ] && [ $((r2 + f2)) -eq "$p2" ] && [ "$f2" -lt $((p2 - p1)) ] &&
  pass "turn 2 reuses the cache: $r2 of $p2 tokens (turn 1 prompt $p1)" || fail "cache reuse: $(cat "$tmp/err")"
# After /reset the conversation is one message again: shorter than turn 2, and turn 1's start is reused.
p3=$(stat "$tmp/err" 3 1); r3=$(stat "$tmp/err" 3 4)
[ "$p3" -lt "$p2" ] && [ "$r3" -gt 0 ] && [ "$r3" -lt "$p3" ] &&
  pass "/reset forgets the turns ($p3 < $p2 tokens, $r3 reused)" || fail "/reset: $(cat "$tmp/err")"

# Same seed, same conversation.
printf 'In the beginning God created\nAnd the earth was without form\n/reset\nAnd God said, Let there be light\n/exit\n' |
  "${chat[@]}" >"$tmp/out2" 2>/dev/null
cmp -s "$tmp/out" "$tmp/out2" && pass "same seed, same replies" || fail "replies differ for seed $seed"

# A system prompt lengthens the rendered conversation; EOF without /exit ends the session cleanly.
printf 'Hello' | "${chat[@]}" >/dev/null 2>"$tmp/plain"
rc1=$?
printf 'Hello\n' | "${chat[@]}" --system "Thou art a scribe of the king" >/dev/null 2>"$tmp/system"
rc2=$?
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ "$(grep -c "prompt tokens" "$tmp/plain")" -eq 1 ] &&
  [ "$(stat "$tmp/system" 1 1)" -gt "$(stat "$tmp/plain" 1 1)" ] &&
  pass "EOF ends the chat; --system is rendered" || fail "EOF/system: $(cat "$tmp/plain" "$tmp/system")"

# SIGINT while a long reply streams stops that reply and returns to the prompt; the session goes on.
mkfifo "$tmp/in"
"$llmr" chat -n 100000 -c 4096 -t 1 --seed $seed --temp 1 --top-k 0 --top-p 1 --min-p 0 <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
pid=$!
pids+=($pid)
exec 3>"$tmp/in"
wait_for() {  # wait_for FILE PATTERN COUNT: up to 20 s for COUNT lines matching PATTERN
  for _ in $(seq 200); do
    [ "$(grep -c -- "$2" "$1")" -ge "$3" ] && return 0
    sleep 0.1
  done
  return 1
}
echo "In the beginning" >&3
for _ in $(seq 200); do [ -s "$tmp/out" ] && break; sleep 0.1; done
kill -INT $pid
wait_for "$tmp/err" "(interrupted)" 1 && kill -0 $pid 2>/dev/null &&
  pass "Ctrl-C stops the reply, chat still running" || fail "first Ctrl-C: $(cat "$tmp/err")"
g1=$(stat "$tmp/err" 1 11)
[ -n "$g1" ] && [ "$g1" -lt 3000 ] && pass "interrupted after $g1 tokens" || fail "reply not cut short: '$g1'"
echo "And God said" >&3
sleep 0.5
kill -INT $pid
wait_for "$tmp/err" "(interrupted)" 2 && [ "$(stat "$tmp/err" 2 4)" -gt 0 ] &&
  pass "next message answered, and interrupted too; it reused the cache" || fail "second turn: $(cat "$tmp/err")"
# Ctrl-C at the prompt ends the chat.
sleep 0.3
kill -INT $pid
for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then
  fail "Ctrl-C at the prompt did not exit"
else
  wait $pid
  rc=$?
  [ $rc -eq 0 ] && pass "Ctrl-C at the prompt exits 0" || fail "Ctrl-C at the prompt: rc=$rc"
fi
exec 3>&-

echo "$passes passed, $failures failed"
[ $failures -eq 0 ]
