// Package views holds PhotoEditorApp's pages as templ components. Each is fed
// a view-model struct that holds exactly what the page shows; components
// never fetch anything.
package views

// Page is what every page's layout shows.
type Page struct {
	Title          string
	UserName       string // "" when not connected
	Connected      bool
	CSRF           string
	Flashes        []string
	TokenRefreshed bool // the access token was refreshed while serving this page
	Lab            bool // lab mode: defences can be switched off
}

// ScopeLine is one permission the app asks for.
type ScopeLine struct {
	Name        string
	Description string
}

// HomeView is the front page.
type HomeView struct {
	Page
	Scopes []ScopeLine
}

// PhotoCard is one photo in the gallery.
type PhotoCard struct {
	ID      string
	Title   string
	Size    string
	Version int64 // changes when the photo does, so browsers fetch the new image
}

// PhotosView is the gallery.
type PhotosView struct {
	Page
	Photos []PhotoCard
}

// Operation is one edit the editor offers.
type Operation struct {
	Name  string
	Label string
}

// EditView is the editor.
type EditView struct {
	Page
	Photo      PhotoCard
	Operations []Operation
}

// ErrorView is an error page with a way to go on.
type ErrorView struct {
	Page
	Title    string
	Message  string
	RetryURL string
}

// LabSwitch is one check lab mode can turn off.
type LabSwitch struct {
	Name    string
	Title   string
	Explain string
	On      bool
}

// LabView is the lab switches page.
type LabView struct {
	Page
	Switches []LabSwitch
	Legacy   bool // the legacy grants' demonstrations are offered
}
