# Convenience targets; the README's two commands (scripts/run.sh, scripts/test.sh) need none.
.PHONY: run test bundle clean

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

bundle:  ## one-folder application in dist/thighmap (see packaging/README.md)
	bash packaging/build.sh

clean:
	rm -rf build dist
