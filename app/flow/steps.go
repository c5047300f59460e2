package flow

// StepInfo explains a step to a room: what happened, which rule, and what
// attack its check stops.
type StepInfo struct {
	Step     Step
	Title    string
	From, To string // lanes of the sequence diagram: "browser", "app", "imagehost"
	Explain  string
	Spec     string
	Prevents string
	// Arrows are the step's rows in the sequence diagram: the first from
	// From to To, a second (the answer) back. A step without arrows is not
	// drawn.
	Arrows []string
}

// Lanes are the sequence diagram's columns, left to right.
var Lanes = []string{"browser", "app", "imagehost"}

// Steps are the steps of the flow, in the order of the sequence diagram.
var Steps = []StepInfo{
	{StepConnect, "You ask to connect", "browser", "app",
		"You click Connect with ImageHost. The form carries a CSRF token, so another site cannot start a login in your browser.",
		"OWASP CSRF prevention", "login CSRF: an attacker starting a flow in your browser",
		[]string{"1 Connect with ImageHost"}},
	{StepAuthorize, "Redirect to ImageHost's authorization endpoint", "app", "imagehost",
		"The app sends your browser to ImageHost with its client_id, the exact redirect_uri it registered, the scopes it wants, response_type=code, a random state and nonce, and a PKCE code_challenge (the SHA-256 of a secret verifier it keeps).",
		"RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1", "CSRF (state), code interception (PKCE), ID token replay (nonce)",
		[]string{"2 Redirect to /authorize: client_id, redirect_uri, scope, state, nonce, code_challenge"}},
	{StepLogin, "You log in and consent, at ImageHost", "browser", "imagehost",
		"Only ImageHost sees your password. It shows which app asks for what, and remembers your answer. The app sees nothing of this step.",
		"RFC 6749 §3.1, RFC 9700 §2.4", "password phishing: you never type your ImageHost password into the app",
		[]string{"3 Log in and consent"}},
	{StepCallback, "Redirect back with the code", "imagehost", "app",
		"ImageHost sends your browser back to the registered redirect_uri with a short-lived, single-use code, the state unchanged, and iss. The app checks that state is the one it sent and iss is ImageHost.",
		"RFC 6749 §4.1.2, RFC 9207 §2", "CSRF and mix-up attacks (state, iss)",
		[]string{"4-5 Redirect back: code, state, iss"}},
	{StepToken, "Back-channel code exchange, tokens returned", "app", "imagehost",
		"Server to server, the app redeems the code with its client secret and the PKCE code_verifier, and, with DPoP (the default), a proof signed with a key pair made for this session alone. ImageHost answers with an access token bound to that key (token_type DPoP, cnf.jkt), a refresh token and an ID token; the app verifies the ID token's signature, iss, aud, expiry and nonce.",
		"RFC 6749 §4.1.3 and §5.1, RFC 7636 §4.5-4.6, OIDC Core §3.1.3, RFC 9449 §5", "a stolen code is useless without the client secret and the verifier; a stolen access token without the key",
		[]string{"6 POST /token: code, code_verifier, client secret", "7 Access, refresh and ID tokens"}},
	{StepAPI, "API call with the bearer token, data returned", "app", "imagehost",
		"The app calls ImageHost's photos API with the access token in the Authorization header: with DPoP, as Authorization: DPoP, with a fresh proof of the session's key for this method and URL and this token's hash. The API checks signature, iss, aud, expiry and scope, and that the proof is made with the key the token is bound to, once, and returns only this user's photos.",
		"RFC 6750 §2.1, RFC 9068 §4, RFC 9449 §7", "forged, expired or over-reaching tokens; one user reading another's data; a stolen token used without the key",
		[]string{"8 GET /api/photos with the bearer token", "9 The photos"}},
	{StepRefresh, "Access token expired: refresh", "app", "imagehost",
		"The access token is short-lived. The app uses the refresh token to get a new one, bound to the session's key again (a DPoP proof goes with the refresh); ImageHost rotates the refresh token, and a second use of an old one revokes the whole family.",
		"RFC 6749 §6, RFC 9700 §4.14.2", "a leaked refresh token (rotation and reuse detection)",
		[]string{"R Expired: POST /token with the refresh token, new tokens"}},
	{StepRevoke, "Revocation", "app", "imagehost",
		"On Disconnect the app tells ImageHost to revoke its refresh token, and with it every token of the grant.",
		"RFC 7009 §2", "tokens left alive after the user leaves", nil},
	{StepLogout, "Logout", "imagehost", "app",
		"ImageHost tells the app, server to server, that your ImageHost session ended or that you revoked the app; the app's session is dead at its next request.",
		"OIDC Back-Channel Logout 1.0", "a session that outlives the user's logout", nil},
	{StepAttack, "Attack demonstration", "app", "imagehost",
		"A deliberately broken request, sent to the real ImageHost, to watch one of its checks refuse it.",
		"RFC 9700", "see the attack's own explanation", nil},
	{StepMachine, "Machine to machine: client credentials", "app", "imagehost",
		"A program acting for itself, with no user: it authenticates with its own credentials and gets an access token whose sub is the client. No refresh token, no ID token, and at the photos API it sees only what it uploaded itself.",
		"RFC 6749 §4.4, RFC 9068 §2.2", "a robot reaching users' data: its token names no user", nil},
	{StepImplicit, "Legacy: the implicit grant (lab mode)", "imagehost", "browser",
		"ImageHost answers with the access token itself, in the fragment of the redirect to the app's page. No code is redeemed, so there is no back channel: the app never authenticates, nothing ties the token to this login, and no refresh token comes. The token is in the address bar, in the browser's history, and within reach of every script the page loads.",
		"RFC 6749 §4.2; RFC 9700 §2.1.2: clients SHOULD NOT use it", "nothing: this is what the code flow with PKCE replaced", nil},
	{StepPassword, "Legacy: the password grant (lab mode)", "app", "imagehost",
		"You type your ImageHost password into the app, and the app sends it to ImageHost's token endpoint for a token. The app's server has your password; ImageHost shows no consent screen and can ask for no second factor.",
		"RFC 6749 §4.3; RFC 9700 §2.4: it MUST NOT be used", "nothing: this is what signing in at ImageHost itself replaced", nil},
	{StepDiscovery, "Discovery and keys", "app", "imagehost",
		"The app learns ImageHost's endpoints from its discovery document and fetches its public signing keys (JWKS) to verify tokens.",
		"OIDC Discovery 1.0, RFC 8414, RFC 7517", "hard-coded endpoints and keys that go stale after rotation", nil},
}

// Info returns the explanation of a step.
func Info(s Step) StepInfo {
	for _, si := range Steps {
		if si.Step == s {
			return si
		}
	}
	return StepInfo{Step: s, Title: "Other exchange", From: "app", To: "imagehost"}
}
