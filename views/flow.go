package views

// Field is one header or parameter.
type Field struct{ Name, Value string }

// MessageView is a request or a response.
type MessageView struct {
	Method     string
	URL        string
	Status     int
	StatusText string
	Params     []Field
	Headers    []Field
	Body       string
}

// ExchangeView is one recorded exchange, explained.
type ExchangeView struct {
	Anchor   string
	Seq      int
	Step     string
	Title    string
	Explain  string
	Spec     string
	Prevents string
	Channel  string
	Time     string
	Duration string
	Note     string
	Request  MessageView
	Response MessageView
	// Where ImageHost logged its side: its activity log entry for this
	// request, and the flow reference both sides compute from state.
	ImageHostLink string
	FlowRef       string
	FlowLink      string // ImageHost's activity log of the login FlowRef names
	// Proof is the request's DPoP proof, decoded; nil without one.
	Proof *ProofView
}

// ProofView is a DPoP proof (RFC 9449 §4.2), decoded: its JOSE header,
// with the public key, and its claims. The recording keeps no signature.
type ProofView struct {
	Header string
	Claims string
}

// DiagramRow is one arrow of the sequence diagram.
type DiagramRow struct {
	Label    string
	Span     string // CSS class placing the arrow between two lanes
	Leftward bool
	Happened bool
	Anchor   string // link to the exchange, when it happened
}

// TokenView is a decoded token.
type TokenView struct {
	Name      string
	Raw       string // masked unless revealed
	Header    string
	Claims    string
	Verified  string // how the signature checked out
	ExpiresAt int64  // unix seconds; 0 when unknown
}

// Attack is one attack demonstration the inspector offers.
type Attack struct {
	Name     string
	Title    string
	Explain  string
	Prevents string
}

// FamilyEvent is one event in the life of the refresh-token family.
type FamilyEvent struct {
	Anchor string
	What   string
	Tokens string // e.g. "abc… → def…"
	Bad    bool   // a refusal or revocation
}

// FlowView is the flow inspector.
type FlowView struct {
	Page
	Exchanges    []ExchangeView
	Diagram      []DiagramRow
	Tokens       []TokenView
	RefreshToken string
	Rotations    int
	// DPoPKey is the thumbprint of the key the session's tokens are bound
	// to (cnf.jkt); "" for bearer tokens.
	DPoPKey   string
	Attacks   []Attack
	Family    []FamilyEvent
	Legacy    []LegacyGrant // lab mode: the legacy grants this browser ran
	Presenter bool
	CanReveal bool
	Revealed  bool
}
