package main

import (
	"net/http"
	"strings"

	"github.com/a-h/templ"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/pages"
)

// handleHome serves ImageHost's front page.
func handleHome(issuer string, sessions loginSessions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vm := pages.HomeView{Issuer: issuer}
		if who, ok := sessions.current(r); ok {
			vm.Username = who.user.Username
		}
		render(w, r, http.StatusOK, pages.Home(vm))
	})
}

// handlePage serves a page that is the same for everyone.
func handlePage(page templ.Component) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		render(w, r, http.StatusOK, page)
	})
}

// handleNotFound answers what no other route takes: 405 with an Allow
// header when the path exists for other methods, else 404. API and
// back-channel callers get JSON, browsers a page.
func handleNotFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" {
				allowed = append(allowed, m)
			}
		}
		e := oauth.Errorf("not_found", http.StatusNotFound, "no such endpoint")
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			e = oauth.Errorf(oauth.CodeInvalidRequest, http.StatusMethodNotAllowed, "method %s is not allowed here", r.Method)
		}
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			errorPage(w, r, e.Status, "Page not found", "There is nothing at this address.", "")
			return
		}
		oauth.WriteError(w, e)
	})
}
