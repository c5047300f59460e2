package photoedit

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"testing"
)

// testImage is 4×2: red at the top-left corner, blue elsewhere.
func testImage(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 2))
	for y := range 2 {
		for x := range 4 {
			img.Set(x, y, color.RGBA{0, 0, 255, 255})
		}
	}
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestApply(t *testing.T) {
	red := color.RGBA{255, 0, 0, 255}
	tests := []struct {
		op         string
		w, h       int
		redAt      image.Point // where the red corner ends up (-1: it is gone or mixed)
		grayPixels bool
	}{
		{RotateRight, 2, 4, image.Pt(1, 0), false},
		{RotateLeft, 2, 4, image.Pt(0, 3), false},
		{Grayscale, 4, 2, image.Pt(-1, -1), true},
		{CropSquare, 2, 2, image.Pt(-1, -1), false},
		{HalfSize, 2, 1, image.Pt(-1, -1), false},
	}
	for _, tc := range tests {
		t.Run(tc.op, func(t *testing.T) {
			out, ct, err := Apply(testImage(t), tc.op)
			if err != nil || ct != "image/png" {
				t.Fatalf("Apply: %v, %q", err, ct)
			}
			img, err := png.Decode(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
				t.Fatalf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), tc.w, tc.h)
			}
			if tc.redAt.X >= 0 {
				if got := color.RGBAModel.Convert(img.At(tc.redAt.X, tc.redAt.Y)); got != red {
					t.Fatalf("pixel at %v = %v, want red", tc.redAt, got)
				}
			}
			if tc.grayPixels {
				r, g, b, _ := img.At(0, 0).RGBA()
				if r != g || g != b {
					t.Fatalf("grayscale pixel %d %d %d", r, g, b)
				}
			}
		})
	}
	if _, _, err := Apply(testImage(t), "explode"); !errors.Is(err, ErrUnknownOperation) {
		t.Fatalf("unknown op: %v", err)
	}
	if _, _, err := Apply([]byte("not an image"), Grayscale); err == nil {
		t.Fatal("garbage decoded")
	}
}
