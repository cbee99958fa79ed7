package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

func TestToolMissing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "present"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	if err := ToolMissing("present", "pkg"); err != nil {
		t.Fatalf("present: %v", err)
	}
	err := ToolMissing("absent", "thepkg")
	if err == nil || err.Error() != "absent is not installed (install the thepkg package)" {
		t.Fatalf("absent: %v", err)
	}

	t.Setenv(RequireEnv, "")
	if ok, err := Condition("absent", "thepkg"); ok || err != nil {
		t.Fatalf("Condition without %s: %v, %v", RequireEnv, ok, err)
	}
	if ok, err := Condition("present", "pkg"); !ok || err != nil {
		t.Fatalf("Condition(present): %v, %v", ok, err)
	}
	t.Setenv(RequireEnv, "1")
	ok, err := Condition("absent", "thepkg")
	if ok || err == nil || err.Error() != "absent is not installed (install the thepkg package), and STOLOS_TEST_REQUIRE_SERVERS=1" {
		t.Fatalf("Condition with %s=1: %v, %v", RequireEnv, ok, err)
	}
}
