package main

import "testing"

func TestRunFlatAndIVF(t *testing.T) {
	if err := run(2000, 16, "", 3, 5, 10, 0, 4, 1); err != nil {
		t.Fatal(err)
	}
	if err := run(2000, 16, "", 3, 5, 10, 8, 8, 1); err != nil {
		t.Fatal(err)
	}
	if err := run(0, 0, "/nonexistent/x.npy", 3, 5, 10, 0, 4, 1); err == nil {
		t.Fatal("missing .npy file accepted")
	}
}
