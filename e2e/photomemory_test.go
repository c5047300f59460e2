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
	"os"
	"regexp"
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
	// Its temporary files go where the test can see them.
	tmp := t.TempDir()
	imageHost := harness.ImageHost(t, "http://localhost:1", "IMAGEHOST_MAX_BYTES_PER_OWNER=1000000000", "TMPDIR="+tmp)
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
		t.Errorf("ImageHost's peak RSS was %d MiB, over %d MiB", peak>>20, maxRSS>>20)
	}
	leftBehind(t, "ImageHost", tmp)
}

// leftBehind fails the test for every file in dir: a process's temporary
// files that outlived the requests they were made for.
func leftBehind(t *testing.T, who, dir string) {
	t.Helper()
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) > 0 {
		t.Errorf("%s left %d temporary files behind after the uploads, such as %s", who, len(files), files[0].Name())
	}
}

// TestAppPhotoBursts: the review's burst at PhotoEditorApp, 16 uploads of
// a 7.8 MB photo through its form at once, then 40 slow readers of one
// through its image proxy. The app's peak memory stays bounded: an upload
// is spooled to a temporary file and streamed to ImageHost from there, a
// photo is streamed to the browser, and the bytes on their way are capped.
func TestAppPhotoBursts(t *testing.T) {
	if testing.Short() {
		t.Skip("memory test")
	}
	const (
		uploads  = 16
		reads    = 40
		maxRSS   = 96 << 20
		answerIn = 30 * time.Second
	)
	// Their temporary files go where the test can see them.
	imageHostTmp, appTmp := t.TempDir(), t.TempDir()
	appPort := harness.FreePort(t)
	imageHost := harness.ImageHost(t, fmt.Sprintf("http://localhost:%d", appPort),
		"IMAGEHOST_MAX_BYTES_PER_OWNER=1000000000", "TMPDIR="+imageHostTmp)
	app := harness.App(t, appPort, imageHost.URL, "TMPDIR="+appTmp)
	browser := harness.NewBrowser()
	page, err := connect(t.Context(), browser, app.URL, "alice", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	csrf := harness.HiddenFields(page).Get("_csrf")
	photo := noisePNG(t)
	noFollow := *browser
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	before := peakRSS(t, app)

	// An upload the app took to ImageHost answers with a redirect to the
	// gallery; a busy app or ImageHost, 503.
	results := photoBurst(uploads, func(i int) (int, error) {
		body, contentType := multipartPhoto(photo, url.Values{"_csrf": {csrf}, "title": {fmt.Sprintf("noise-%02d", i)}})
		resp, err := noFollow.Post(app.URL+"/photos", contentType, body)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	})
	count := tally(t, "upload", results, answerIn, http.StatusSeeOther, http.StatusServiceUnavailable)
	afterUploads := peakRSS(t, app)
	_, gallery := fetch(t, browser, app.URL+"/photos")
	stored := strings.Count(gallery, `alt="noise-`)
	t.Logf("%d uploads of a %.1f MB photo through the app at once: %d passed on, %d busy, %d in the gallery; the app's peak RSS %d MiB (%d MiB before)",
		uploads, float64(len(photo))/1e6, count[http.StatusSeeOther], count[http.StatusServiceUnavailable], stored, afterUploads>>20, before>>20)
	if stored == 0 {
		t.Fatalf("no upload reached ImageHost:\n%.3000s", gallery)
	}

	// The image proxy, read slowly by many at once.
	src := regexp.MustCompile(`src="(/photos/[^"]+/image\?v=[0-9]+)"[^>]*alt="noise-`).FindStringSubmatch(gallery)
	if src == nil {
		t.Fatal("no noise photo's image in the gallery")
	}
	results = photoBurst(reads, func(int) (int, error) {
		resp, err := browser.Get(app.URL + htmlUnescape(src[1]))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		time.Sleep(time.Second) // a slow reader
		n, err := io.Copy(io.Discard, resp.Body)
		if resp.StatusCode == http.StatusOK && (err != nil || n != int64(len(photo))) {
			return 0, fmt.Errorf("read %d of %d bytes: %v", n, len(photo), err)
		}
		return resp.StatusCode, nil
	})
	count = tally(t, "read", results, answerIn, http.StatusOK, http.StatusServiceUnavailable)
	peak := peakRSS(t, app)
	t.Logf("%d slow reads of it through the image proxy at once: %d sent, %d busy; the app's peak RSS %d MiB", reads, count[http.StatusOK], count[http.StatusServiceUnavailable], peak>>20)
	if count[http.StatusOK] == 0 {
		t.Error("no read was served")
	}
	if peak > maxRSS {
		t.Errorf("the app's peak RSS was %d MiB, over %d MiB", peak>>20, maxRSS>>20)
	}
	leftBehind(t, "PhotoEditorApp", appTmp)
	leftBehind(t, "ImageHost", imageHostTmp)
}

// fetch gets a page with browser.
func fetch(t *testing.T, browser *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := browser.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// htmlUnescape undoes the escaping templ gives an attribute's value.
func htmlUnescape(s string) string { return strings.ReplaceAll(s, "&amp;", "&") }
