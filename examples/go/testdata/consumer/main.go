// A program outside the libals tree that uses the Go binding: tests/test_go_consumer.sh
// copies it into a fresh module (see examples/go/README.md, "Using the package from
// another module"), builds it against an installed copy of the libraries and runs it.
package main

import (
	"fmt"
	"os"

	"example.com/libals/als"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

func run() error {
	fmt.Println("libals", als.Version())

	// Exact search: the nearest neighbours of (1, 0) by inner product, id 0 excluded.
	idx, err := als.NewFlatIndex(2, als.IP)
	if err != nil {
		return err
	}
	defer idx.Close()
	vecs := als.Matrix{Data: []float32{1, 0, 0, 1, 0.8, 0.6, -1, 0}, Rows: 4, Cols: 2}
	if err := idx.Add(vecs, nil); err != nil { // ids 0..3
		return err
	}
	_, ids, err := idx.Search(als.Matrix{Data: []float32{1, 0}, Rows: 1, Cols: 2}, 2, []int64{0})
	if err != nil {
		return err
	}
	fmt.Println("search:", ids[0], ids[1])

	// Implicit ALS: users 1-3 share items 10 and 11, user 3 also has 12; user 4 only 13.
	m, err := als.NewALS(als.Options{Rank: 2, MaxIter: 10, RegParam: 0.01, ImplicitPrefs: true,
		Alpha: 10, NumThreads: 1})
	if err != nil {
		return err
	}
	defer m.Close()
	users := []int64{1, 1, 2, 2, 3, 3, 3, 4}
	items := []int64{10, 11, 10, 11, 10, 11, 12, 13}
	if err := m.Fit(users, items, nil); err != nil {
		return err
	}
	rec, _, err := m.Recommend(1, 1, []int64{10, 11})
	if err != nil {
		return err
	}
	f := m.UserFactors()
	fmt.Printf("als: %d users x rank %d, top item for user 1: %d\n", f.Rows, f.Cols, rec[0])

	// Errors cross the boundary as *als.Error with the library's code.
	_, err = als.NewFlatIndex(0, als.IP)
	if als.CodeOf(err) >= 0 {
		return fmt.Errorf("dimension 0 accepted (%v)", err)
	}
	fmt.Println("error:", als.StatusText(als.CodeOf(err)))
	return nil
}
