#!/usr/bin/env bash
# Benchmarks `fleetgate check` over 1,000 migration files (target: under
# 0.5 s). The files cycle through twenty realistic shapes (tables with
# indexes and foreign keys, concurrent index builds, backfills in DO blocks,
# plpgsql functions with dollar quoting, views, enums, triggers, post-phase
# drops, a few findings), about 5 statements each.
#
# It reports the wall time, CPU time (user + system; on a shared machine the
# wall time includes waiting for a core) and peak RSS of each run, and the part of it
# spent loading the parser (once per process), which the check prints in its
# summary line. The binary is built as `go build` builds it here (with cgo
# when a C compiler is present: the native parser); CGO_ENABLED=0 in the
# environment measures the WebAssembly fallback.
#
# Usage: scripts/bench-check.sh [FILES] [RUNS]   (defaults: 1000 files, 5 runs)
#        scripts/bench-check.sh --generate DIR [FILES]   (only write the files;
#        scripts/bench-parser.sh parses the same ones)
set -euo pipefail
cd "$(dirname "$0")/.."

generate_only=
if [[ ${1:-} == --generate ]]; then
	generate_only=$2
	shift 2
fi
files=${1:-1000}
runs=${2:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

dir="$work/migrations"
if [[ -n $generate_only ]]; then
	dir=$generate_only
else
	go build -o "$work/fleetgate" ./cmd/fleetgate
fi
mkdir -p "$dir"

for ((i = 1; i <= files; i++)); do
	f=$(printf '%s/%05d_m%d.sql' "$dir" "$i" "$i")
	case $((i % 20)) in
	0) printf -- '-- fleetgate:up\nCREATE TABLE t%d (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    name text NOT NULL,\n    created_at timestamptz NOT NULL DEFAULT now()\n);\nCREATE INDEX t%d_name ON t%d (name);\nCOMMENT ON TABLE t%d IS '"'"'created by migration %d'"'"';\n-- fleetgate:down\nDROP TABLE t%d;\n' "$i" "$i" "$i" "$i" "$i" "$i" ;;
	1) printf -- '-- fleetgate:up\nALTER TABLE t%d ADD COLUMN note text;\nALTER TABLE t%d ADD COLUMN flags integer NOT NULL DEFAULT 0;\n' "$((i - 1))" "$((i - 1))" ;;
	2) printf -- '-- fleetgate:no-transaction\n-- fleetgate:up\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t%d_note_idx ON t%d (note) WHERE note IS NOT NULL;\n' "$i" "$((i - 2))" ;;
	3) printf -- '-- fleetgate:up\nALTER TABLE t%d ADD COLUMN parent_id bigint;\nALTER TABLE t%d ADD CONSTRAINT t%d_parent_fk FOREIGN KEY (parent_id) REFERENCES t%d (id) NOT VALID;\n' "$((i - 3))" "$((i - 3))" "$((i - 3))" "$((i - 3))" ;;
	4) printf -- '-- fleetgate:up\nALTER TABLE t%d VALIDATE CONSTRAINT t%d_parent_fk;\n' "$((i - 4))" "$((i - 4))" ;;
	5) printf -- '-- fleetgate:up\nDO $backfill$\nDECLARE n int;\nBEGIN\n    LOOP\n        UPDATE t%d SET flags = 1 WHERE id IN (SELECT id FROM t%d WHERE flags = 0 LIMIT 1000);\n        GET DIAGNOSTICS n = ROW_COUNT;\n        EXIT WHEN n = 0;\n    END LOOP;\nEND\n$backfill$;\n' "$((i - 5))" "$((i - 5))" ;;
	6) printf -- '-- fleetgate:up\nCREATE OR REPLACE FUNCTION touch_%d() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n    -- ALTER TABLE t%d DROP COLUMN note; would break old code\n    NEW.created_at := now();\n    RETURN NEW;\nEND;\n$$;\nCREATE TRIGGER t%d_touch BEFORE UPDATE ON t%d FOR EACH ROW EXECUTE FUNCTION touch_%d();\n' "$i" "$((i - 6))" "$((i - 6))" "$((i - 6))" "$i" ;;
	7) printf -- '-- fleetgate:up\nCREATE OR REPLACE VIEW v%d AS\n    SELECT a.id, a.name, count(b.id) AS children\n    FROM t%d a LEFT JOIN t%d b ON b.parent_id = a.id\n    GROUP BY a.id, a.name;\n' "$i" "$((i - 7))" "$((i - 7))" ;;
	8) printf -- '-- fleetgate:up\nCREATE TYPE status_%d AS ENUM ('"'"'new'"'"', '"'"'active'"'"');\nALTER TABLE t%d ADD COLUMN status status_%d;\n' "$i" "$((i - 8))" "$i" ;;
	9) printf -- '-- fleetgate:up\nALTER TYPE status_%d ADD VALUE IF NOT EXISTS '"'"'archived'"'"';\n' "$((i - 1))" ;;
	10) printf -- '-- fleetgate:up\nINSERT INTO t%d (name) VALUES ('"'"'a; DROP TABLE x'"'"'), ('"'"'b'"'"'), ($q$it'"'"'s c$q$);\nUPDATE t%d SET note = upper(name) WHERE id < 100;\n' "$((i - 10))" "$((i - 10))" ;;
	11) printf -- '-- fleetgate:phase post\n-- fleetgate:up\nALTER TABLE t%d DROP COLUMN IF EXISTS note;\n' "$((i - 11))" ;;
	12) printf -- '-- fleetgate:up\n/* was: CREATE INDEX t%d_x ON t%d (x); VACUUM FULL t%d; */\nALTER TABLE t%d ADD CONSTRAINT t%d_name_len CHECK (length(name) < 200) NOT VALID;\n' "$i" "$i" "$i" "$((i - 12))" "$((i - 12))" ;;
	13) printf -- '-- fleetgate:up\nCREATE TABLE t%d_audit AS SELECT id, name FROM t%d WITH NO DATA;\nCREATE INDEX t%d_audit_id ON t%d_audit (id);\nALTER TABLE t%d_audit ADD PRIMARY KEY (id);\n' "$i" "$((i - 13))" "$i" "$i" "$i" ;;
	14) printf -- '-- fleetgate:up\nGRANT SELECT ON t%d TO PUBLIC;\nALTER TABLE t%d ALTER COLUMN name SET STATISTICS 500;\nALTER TABLE t%d SET (fillfactor = 90);\n' "$((i - 14))" "$((i - 14))" "$((i - 14))" ;;
	15) printf -- '-- fleetgate:up\nCREATE INDEX t%d_created ON t%d (created_at);\n' "$i" "$((i - 15))" ;;
	16) printf -- '-- fleetgate:up\nCREATE FUNCTION n_%d(p bigint) RETURNS bigint LANGUAGE sql STABLE\nBEGIN ATOMIC\n    SELECT count(*) FROM t%d WHERE parent_id = p;\nEND;\n' "$i" "$((i - 16))" ;;
	17) printf -- '-- fleetgate:up\nALTER TABLE t%d ALTER COLUMN name TYPE varchar(300);\n' "$((i - 17))" ;;
	18) printf -- '-- fleetgate:up\nCREATE TABLE t%d_tags (t_id bigint NOT NULL REFERENCES t%d (id), tag text NOT NULL, PRIMARY KEY (t_id, tag));\nCREATE INDEX t%d_tags_tag ON t%d_tags (tag);\nINSERT INTO t%d_tags SELECT id, '"'"'x'"'"' FROM t%d WHERE id < 10;\n' "$i" "$((i - 18))" "$i" "$i" "$i" "$((i - 18))" ;;
	19) printf -- '-- fleetgate:up\nDELETE FROM t%d WHERE created_at < now() - interval '"'"'1 year'"'"';\nANALYZE t%d;\n' "$((i - 19))" "$((i - 19))" ;;
	esac >"$f"
done

if [[ -n $generate_only ]]; then
	exit 0
fi

echo "bench-check: $files files, $(cat "$dir"/*.sql | wc -l) lines; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= runs; r++)); do
	start=$(date +%s.%N)
	set +e
	if [[ -x /usr/bin/time ]]; then
		/usr/bin/time -f "%M %U %S" -o "$work/rss" "$work/fleetgate" check --dir "$dir" >"$work/out" 2>"$work/err"
	else
		"$work/fleetgate" check --dir "$dir" >"$work/out" 2>"$work/err"
	fi
	code=$?
	set -e
	end=$(date +%s.%N)
	summary=$(grep -o 'checked .*' "$work/err" | tail -1)
	rss="peak RSS not measured (no GNU time)"
	if [[ -s $work/rss ]]; then
		read -r kib user sys < <(tail -1 "$work/rss")
		rss=$(printf 'CPU %.2f s, peak RSS %.1f MB' "$(echo "$user + $sys" | bc -l)" "$(echo "$kib / 1024" | bc -l)")
	fi
	printf 'run %d: %.3f s, %s (exit %d) %s\n' "$r" "$(echo "$end - $start" | bc)" "$rss" "$code" "$summary"
done
echo "findings of the last run (the files include a few on purpose):"
cut -d' ' -f2 "$work/out" | sort | uniq -c
