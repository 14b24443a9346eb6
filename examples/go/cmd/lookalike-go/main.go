// Command lookalike-go is a small tour of the Go binding: it generates random unit
// vectors (or reads them from a .npy file), builds a flat or IVF index, finds the
// nearest neighbours of a few seeds and expands the seeds into one audience.
//
//	go run ./cmd/lookalike-go -n 20000 -dim 32 -seeds 5 -k 10
//	go run ./cmd/lookalike-go -npy vectors.npy -nlist 64 -nprobe 8
package main

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"time"

	"example.com/libals/als"
)

func main() {
	n := flag.Int("n", 20000, "random vectors to generate")
	dim := flag.Int("dim", 32, "dimension of the random vectors")
	npy := flag.String("npy", "", "read the vectors from this .npy file instead")
	nseeds := flag.Int("seeds", 5, "seed vectors (the first rows)")
	k := flag.Int("k", 10, "neighbours per seed")
	audience := flag.Int("audience", 20, "audience size for the expansion")
	nlist := flag.Int("nlist", 0, "IVF lists (0 = exact flat index)")
	nprobe := flag.Int("nprobe", 4, "IVF lists scanned per query")
	seed := flag.Int64("rand", 1, "random generator seed")
	flag.Parse()
	if err := run(*n, *dim, *npy, *nseeds, *k, *audience, *nlist, *nprobe, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "lookalike-go:", err)
		os.Exit(1)
	}
}

func run(n, dim int, npy string, nseeds, k, audience, nlist, nprobe int, seed int64) error {
	var vecs als.Matrix
	if npy != "" {
		m, err := als.ReadNpy(npy)
		if err != nil {
			return err
		}
		vecs = m
	} else {
		rng := rand.New(rand.NewSource(seed))
		vecs = als.NewMatrix(n, dim)
		for i := range vecs.Data {
			vecs.Data[i] = float32(rng.NormFloat64())
		}
	}
	if err := vecs.NormalizeRows(); err != nil { // cosine similarity = inner product
		return err
	}
	if nseeds > vecs.Rows {
		nseeds = vecs.Rows
	}
	fmt.Printf("libals %s: %d vectors of dim %d\n", als.Version(), vecs.Rows, vecs.Cols)

	var idx *als.Index
	var err error
	t0 := time.Now()
	if nlist > 0 {
		if idx, err = als.NewIVFIndex(vecs.Cols, als.IP, nlist); err != nil {
			return err
		}
		defer idx.Close()
		if err = idx.Train(vecs); err != nil {
			return err
		}
		if err = idx.SetNprobe(nprobe); err != nil {
			return err
		}
	} else {
		if idx, err = als.NewFlatIndex(vecs.Cols, als.IP); err != nil {
			return err
		}
		defer idx.Close()
	}
	if err = idx.Add(vecs, nil); err != nil { // ids 0..n-1
		return err
	}
	fmt.Printf("%s index built in %v\n", idx.Kind(), time.Since(t0).Round(time.Microsecond))

	seeds := als.Matrix{Data: vecs.Data[:nseeds*vecs.Cols], Rows: nseeds, Cols: vecs.Cols} // no copy
	seedIDs := make([]int64, nseeds)
	for i := range seedIDs {
		seedIDs[i] = int64(i)
	}
	t0 = time.Now()
	scores, ids, err := idx.Search(seeds, k, seedIDs)
	if err != nil {
		return err
	}
	fmt.Printf("search: %d seeds x top-%d in %v (seeds excluded)\n", nseeds, k, time.Since(t0).Round(time.Microsecond))
	for s := 0; s < nseeds; s++ {
		fmt.Printf("  seed %d:", s)
		for j := 0; j < k && j < 5; j++ {
			fmt.Printf(" %d (%.3f)", ids[s*k+j], scores[s*k+j])
		}
		fmt.Println()
	}
	aud, ascores, err := idx.Expand(seeds, k, als.AggSum, seedIDs, audience)
	if err != nil {
		return err
	}
	fmt.Printf("audience (sum of similarities), %d ids:", len(aud))
	for i := range aud {
		if i == 8 {
			fmt.Print(" ...")
			break
		}
		fmt.Printf(" %d (%.3f)", aud[i], ascores[i])
	}
	fmt.Println()
	return nil
}
