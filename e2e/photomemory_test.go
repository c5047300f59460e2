package e2e

// Photo bytes against real processes, the way the review's proofs of
// concept sent them: many large photos read or uploaded at once, by slow
// readers. Each request used to hold its photo whole, in ImageHost and in
// PhotoEditorApp, with nothing to bound how many did at once; the peak
// memory of each process is read from the kernel.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"oauthdemo/e2e/harness"
)

// noisePNG is a 1400×1400 PNG of random pixels, stored uncompressed: 7.8
// MB, about the largest photo ImageHost keeps (8 MB).
func noisePNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 1400, 1400))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Uint32())
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// machineToken gets an access token for the harness's machine client.
func machineToken(t *testing.T, issuer string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(harness.M2MClientID, harness.M2MClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("client credentials: %s %v", resp.Status, err)
	}
	return tok.AccessToken
}

// multipartPhoto is an upload form with the photo in the part "file", and
// the extra fields first.
func multipartPhoto(data []byte, fields url.Values) (*bytes.Buffer, string) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	fw, _ := mw.CreateFormFile("file", "noise.png")
	fw.Write(data)
	mw.Close()
	return &body, mw.FormDataContentType()
}

// burstResult is one answer of a burst.
type burstResult struct {
	status int
	took   time.Duration
	err    error
}

// photoBurst runs n requests at once, each made by do once every goroutine
// is ready; do returns the response status.
func photoBurst(n int, do func(i int) (int, error)) []burstResult {
	var wg sync.WaitGroup
	start := make(chan struct{})
	out := make([]burstResult, n)
	for i := range n {
		wg.Go(func() {
			<-start
			began := time.Now()
			out[i].status, out[i].err = do(i)
			out[i].took = time.Since(began)
		})
	}
	close(start)
	wg.Wait()
	return out
}

// tally counts a burst's answers by status, failing the test for any
// status not in want, any request without an answer, and any answered later
// than within.
func tally(t *testing.T, what string, results []burstResult, within time.Duration, want ...int) map[int]int {
	t.Helper()
	count := map[int]int{}
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("%s %d: no answer after %v: %v", what, i, r.took.Round(time.Millisecond), r.err)
		case !containsInt(want, r.status):
			t.Errorf("%s %d answered %d, want one of %v", what, i, r.status, want)
		case r.took > within:
			t.Errorf("%s %d answered after %v, more than %v", what, i, r.took.Round(time.Millisecond), within)
		}
		count[r.status]++
	}
	return count
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// TestImageHostPhotoBursts: the review's bursts at ImageHost's photos API,
// 40 reads of a 7.8 MB photo by slow readers, then 16 uploads of one, all
// at once. ImageHost's peak memory stays bounded: the photos it holds are
// within its photo memory, and the rest wait or are told to come back
// (503 with Retry-After).
func TestImageHostPhotoBursts(t *testing.T) {
	if testing.Short() {
		t.Skip("memory test")
	}
	const (
		reads    = 40
		uploads  = 16
		maxRSS   = 128 << 20
		answerIn = 30 * time.Second
	)
	imageHost := harness.ImageHost(t, "http://localhost:1", "IMAGEHOST_MAX_BYTES_PER_OWNER=1000000000")
	token := machineToken(t, imageHost.URL)
	photo := noisePNG(t)
	upload := func() (int, string, error) {
		body, contentType := multipartPhoto(photo, nil)
		req, _ := http.NewRequest(http.MethodPost, imageHost.URL+"/api/photos", body)
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var p struct{ ID string }
		json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, p.ID, nil
	}
	status, id, err := upload()
	if err != nil || status != http.StatusCreated {
		t.Fatalf("upload: %d %v", status, err)
	}
	before := peakRSS(t, imageHost)

	results := photoBurst(reads, func(int) (int, error) {
		req, _ := http.NewRequest(http.MethodGet, imageHost.URL+"/api/photos/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		time.Sleep(time.Second) // a slow reader
		n, err := io.Copy(io.Discard, resp.Body)
		if resp.StatusCode == http.StatusOK && (err != nil || n != int64(len(photo))) {
			return 0, fmt.Errorf("read %d of %d bytes: %v", n, len(photo), err)
		}
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			return 0, fmt.Errorf("503 without Retry-After")
		}
		return resp.StatusCode, nil
	})
	count := tally(t, "read", results, answerIn, http.StatusOK, http.StatusServiceUnavailable)
	afterReads := peakRSS(t, imageHost)
	t.Logf("%d reads of a %.1f MB photo at once: %d sent, %d busy; ImageHost's peak RSS %d MiB (%d MiB before)",
		reads, float64(len(photo))/1e6, count[http.StatusOK], count[http.StatusServiceUnavailable], afterReads>>20, before>>20)
	if count[http.StatusOK] == 0 {
		t.Error("no read was served")
	}

	results = photoBurst(uploads, func(int) (int, error) {
		status, _, err := upload()
		return status, err
	})
	count = tally(t, "upload", results, answerIn, http.StatusCreated, http.StatusServiceUnavailable)
	peak := peakRSS(t, imageHost)
	t.Logf("%d uploads of it at once: %d stored, %d busy; ImageHost's peak RSS %d MiB", uploads, count[http.StatusCreated], count[http.StatusServiceUnavailable], peak>>20)
	if count[http.StatusCreated] == 0 {
		t.Error("no upload was stored")
	}
	if peak > maxRSS {
		t.Fatalf("ImageHost's peak RSS was %d MiB, over %d MiB", peak>>20, maxRSS>>20)
	}
}
