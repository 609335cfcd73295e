# Shortcuts for the README's commands.
.PHONY: run test cluster bench
run:
	scripts/run
test:
	scripts/test
cluster:
	.venv/bin/chat-tools cluster --nodes 3
bench:
	.venv/bin/chat-tools bench compare --quick
