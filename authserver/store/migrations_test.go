package store_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

// TestMigrationsAreNumberedByPosition: both stores apply their migrations in
// file-name order and record how many they applied, so the nth file must be
// numbered n, and a number may never be skipped or taken twice; otherwise a
// database made before a migration was slotted in would skip it, or run
// another twice. The two stores also keep the same numbers for the same
// changes.
func TestMigrationsAreNumberedByPosition(t *testing.T) {
	var byStore [][]string
	for _, dir := range []string{"sqlite/migrations", "postgres/migrations"} {
		names, err := filepath.Glob(filepath.Join(dir, "*.sql"))
		if err != nil || len(names) == 0 {
			t.Fatalf("%s: %v, %d files", dir, err, len(names))
		}
		slices.Sort(names)
		var numbers []string
		for i, name := range names {
			base := filepath.Base(name)
			if want := fmt.Sprintf("%04d_", i+1); base[:5] != want {
				t.Errorf("%s: file %d is %s, want it numbered %s…", dir, i+1, base, want)
			}
			numbers = append(numbers, base)
		}
		byStore = append(byStore, numbers)
	}
	if !slices.Equal(byStore[0], byStore[1]) {
		t.Errorf("the stores' migrations differ:\n  sqlite:   %v\n  postgres: %v", byStore[0], byStore[1])
	}
}
