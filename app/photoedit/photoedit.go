// Package photoedit is PhotoEditorApp's image editor: a few real operations
// written with nothing but the standard library's image packages.
package photoedit

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
)

// Operations the editor offers, by name.
const (
	RotateLeft  = "rotate-left"
	RotateRight = "rotate-right"
	Grayscale   = "grayscale"
	CropSquare  = "crop-square"
	HalfSize    = "half-size"
)

// Operations lists them with the labels the edit page shows.
var Operations = []struct{ Name, Label string }{
	{RotateLeft, "Rotate left"},
	{RotateRight, "Rotate right"},
	{Grayscale, "Grayscale"},
	{CropSquare, "Crop to square"},
	{HalfSize, "Half size"},
}

// ErrUnknownOperation is returned for an operation not in Operations.
var ErrUnknownOperation = errors.New("photoedit: unknown operation")

// Apply decodes an image, applies op, and encodes the result in the same
// format (GIF and JPEG stay what they were; everything else becomes PNG).
// It returns the new bytes and their content type.
func Apply(data []byte, op string) ([]byte, string, error) {
	src, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, "", fmt.Errorf("photoedit: decode: %w", err)
	}
	var dst image.Image
	switch op {
	case RotateLeft:
		dst = rotate(src, false)
	case RotateRight:
		dst = rotate(src, true)
	case Grayscale:
		dst = grayscale(src)
	case CropSquare:
		dst = cropSquare(src)
	case HalfSize:
		dst = halfSize(src)
	default:
		return nil, "", ErrUnknownOperation
	}
	var buf bytes.Buffer
	switch format {
	case "jpeg":
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 90})
	case "gif":
		err = gif.Encode(&buf, dst, nil)
	default:
		format = "png"
		err = png.Encode(&buf, dst)
	}
	if err != nil {
		return nil, "", fmt.Errorf("photoedit: encode: %w", err)
	}
	return buf.Bytes(), "image/" + format, nil
}

// rotate turns the image a quarter turn.
func rotate(src image.Image, clockwise bool) image.Image {
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dy(), b.Dx()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			sx, sy := x-b.Min.X, y-b.Min.Y
			if clockwise {
				dst.Set(b.Dy()-1-sy, sx, src.At(x, y))
			} else {
				dst.Set(sy, b.Dx()-1-sx, src.At(x, y))
			}
		}
	}
	return dst
}

// grayscale converts with the standard library's luma model.
func grayscale(src image.Image) image.Image {
	b := src.Bounds()
	dst := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			dst.Set(x-b.Min.X, y-b.Min.Y, color.GrayModel.Convert(src.At(x, y)))
		}
	}
	return dst
}

// cropSquare keeps the largest centred square.
func cropSquare(src image.Image) image.Image {
	b := src.Bounds()
	side := min(b.Dx(), b.Dy())
	x0, y0 := b.Min.X+(b.Dx()-side)/2, b.Min.Y+(b.Dy()-side)/2
	dst := image.NewRGBA(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			dst.Set(x, y, src.At(x0+x, y0+y))
		}
	}
	return dst
}

// halfSize averages each 2×2 block into one pixel.
func halfSize(src image.Image) image.Image {
	b := src.Bounds()
	w, h := max(1, b.Dx()/2), max(1, b.Dy()/2)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			var r, g, bl, a, n uint32
			for dy := range 2 {
				for dx := range 2 {
					sx, sy := b.Min.X+2*x+dx, b.Min.Y+2*y+dy
					if sx >= b.Max.X || sy >= b.Max.Y {
						continue
					}
					cr, cg, cb, ca := src.At(sx, sy).RGBA()
					r, g, bl, a, n = r+cr, g+cg, bl+cb, a+ca, n+1
				}
			}
			dst.Set(x, y, color.RGBA64{uint16(r / n), uint16(g / n), uint16(bl / n), uint16(a / n)})
		}
	}
	return dst
}
