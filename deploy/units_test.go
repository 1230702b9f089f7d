package deploy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// checkUnits verifies the systemd units together with systemd-analyze
// verify, in a scratch root that has the system's own units (the targets
// they are ordered after) and stand-ins for the executables they name
// (verify fails on a missing one). verify only warns about unknown keys or
// bad values, so any output counts as a failure.
func checkUnits(ctx context.Context, units map[string][]byte) error {
	root, err := os.MkdirTemp("", "units-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	etc := filepath.Join(root, "etc/systemd/system")
	lib := filepath.Join(root, "usr/lib/systemd")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(lib, 0o755); err != nil {
		return err
	}
	// A copy, not a symlink: the units' own relative symlinks must resolve
	// inside the root.
	if out, err := exec.CommandContext(ctx, "cp", "-a", "/usr/lib/systemd/system", lib).CombinedOutput(); err != nil {
		return fmt.Errorf("copy the system's units: %v: %s", err, out)
	}
	var names []string
	for name, data := range units {
		if err := checkUnitSyntax(name, data); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(etc, name), data, 0o644); err != nil {
			return err
		}
		names = append(names, name)
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok && strings.HasPrefix(k, "Exec") {
				exe := filepath.Join(root, strings.TrimLeft(strings.Fields(v)[0], "-@:+!"))
				if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
					return err
				}
			}
		}
	}
	cmd := exec.CommandContext(ctx, "systemd-analyze", append([]string{"verify", "--man=no", "--root=" + root}, names...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		return fmt.Errorf("systemd-analyze verify: %v: %s", err, out)
	}
	return checkUnitSemantics(units)
}

// checkUnitSyntax catches what verify lets through: systemd has no
// trailing comments, so a "# ..." after a value is part of it (an
// EnvironmentFile= path that never exists).
func checkUnitSyntax(name string, data []byte) error {
	for i, l := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		if strings.Contains(t, " #") || strings.Contains(t, "\t#") {
			return fmt.Errorf("%s:%d: a comment after a value is part of the value", name, i+1)
		}
	}
	return nil
}

// directives returns a unit's key=value lines.
func directives(data []byte) map[string][]string {
	m := map[string][]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && !strings.HasPrefix(k, "#") {
			m[k] = append(m[k], v)
		}
	}
	return m
}

// checkUnitSemantics: the migration runs once to completion (oneshot, no
// Restart=), with --dir, before the server (Requires= and After=).
func checkUnitSemantics(units map[string][]byte) error {
	for name, data := range units {
		d := directives(data)
		exec := strings.Join(d["ExecStart"], " ")
		if strings.Contains(exec, "fleetgate") && !strings.Contains(exec, "--dir") {
			return fmt.Errorf("%s: fleetgate without --dir (the working directory defaults to /)", name)
		}
		if strings.Contains(exec, "fleetgate up") {
			if strings.Join(d["Type"], "") != "oneshot" {
				return fmt.Errorf("%s: the migration unit must be Type=oneshot, so that units after it wait for its end", name)
			}
			if r := strings.Join(d["Restart"], ""); r != "" && r != "no" {
				return fmt.Errorf("%s: Restart=%s loops on a failing migration", name, r)
			}
			if len(d["TimeoutStartSec"]) == 0 {
				return fmt.Errorf("%s: no TimeoutStartSec: a oneshot has no start timeout by default", name)
			}
			mig := strings.TrimSuffix(name, ".service")
			dependents := 0
			for other, od := range units {
				o := directives(od)
				if other == name || !strings.Contains(strings.Join(o["Requires"], " "), name) {
					continue
				}
				if !strings.Contains(strings.Join(o["After"], " "), name) {
					return fmt.Errorf("%s: Requires=%s without After=: the server would start beside the migration", other, mig)
				}
				dependents++
			}
			if dependents == 0 {
				return fmt.Errorf("%s: no unit Requires= and is After= it", name)
			}
		}
	}
	return nil
}
