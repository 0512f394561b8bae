package onvif

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Namespaces used in requests.
const (
	nsSOAP12  = "http://www.w3.org/2003/05/soap-envelope"
	nsDevice  = "http://www.onvif.org/ver10/device/wsdl"
	nsMedia   = "http://www.onvif.org/ver10/media/wsdl"
	nsMedia2  = "http://www.onvif.org/ver20/media/wsdl"
	nsPTZ     = "http://www.onvif.org/ver20/ptz/wsdl"
	nsEvents  = "http://www.onvif.org/ver10/events/wsdl"
	nsImaging = "http://www.onvif.org/ver20/imaging/wsdl"
	nsSchema  = "http://www.onvif.org/ver10/schema"
	nsWSNT    = "http://docs.oasis-open.org/wsn/b-2"
	nsWSA     = "http://www.w3.org/2005/08/addressing"
	nsWSSE    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsWSU     = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

	pwDigestType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	nonceEncType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

// envelopeOpen declares every prefix a request body may use. "onvif" is the
// prefix github.com/IOTechSystems/onvif request types use for the tt schema.
const envelopeOpen = `<?xml version="1.0" encoding="UTF-8"?>` +
	`<s:Envelope xmlns:s="` + nsSOAP12 + `" xmlns:tds="` + nsDevice + `" xmlns:trt="` + nsMedia +
	`" xmlns:tr2="` + nsMedia2 + `" xmlns:tptz="` + nsPTZ + `" xmlns:tev="` + nsEvents +
	`" xmlns:timg="` + nsImaging + `" xmlns:tt="` + nsSchema + `" xmlns:onvif="` + nsSchema +
	`" xmlns:wsnt="` + nsWSNT + `" xmlns:wsa="` + nsWSA + `">`

// buildEnvelope assembles a SOAP 1.2 envelope around body with the given
// header elements (already serialized).
func buildEnvelope(header, body []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(envelopeOpen) + len(header) + len(body) + 64)
	b.WriteString(envelopeOpen)
	if len(header) > 0 {
		b.WriteString("<s:Header>")
		b.Write(header)
		b.WriteString("</s:Header>")
	}
	b.WriteString("<s:Body>")
	b.Write(body)
	b.WriteString("</s:Body></s:Envelope>")
	return b.Bytes()
}

// xmlEscape returns s escaped for element text or attribute values.
func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// text collects the character data of an element and all its descendants.
type text string

func (t *text) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var b strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch v := tok.(type) {
		case xml.CharData:
			b.Write(v)
		case xml.EndElement:
			if v.Name == start.Name {
				*t = text(strings.TrimSpace(b.String()))
				return nil
			}
		}
	}
}

type soapSubcode struct {
	Value   string       `xml:"Value"`
	Subcode *soapSubcode `xml:"Subcode"`
}

type soapFault struct {
	Code struct {
		Value   string       `xml:"Value"`
		Subcode *soapSubcode `xml:"Subcode"`
	} `xml:"Code"`
	Reason struct {
		Text []string `xml:"Text"`
	} `xml:"Reason"`
	Detail text `xml:"Detail"`
	// SOAP 1.1
	FaultCode   string `xml:"faultcode"`
	FaultString string `xml:"faultstring"`
	FaultDetail text   `xml:"detail"`
}

func localPart(qname string) string {
	qname = strings.TrimSpace(qname)
	if i := strings.LastIndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}

func (f *soapFault) toError() *FaultError {
	e := &FaultError{Code: localPart(f.Code.Value), Detail: strings.TrimSpace(string(f.Detail))}
	for s, n := f.Code.Subcode, 0; s != nil && n < 8; s, n = s.Subcode, n+1 {
		if v := localPart(s.Value); v != "" {
			e.Subcodes = append(e.Subcodes, v)
		}
	}
	for _, t := range f.Reason.Text {
		if t = strings.TrimSpace(t); t != "" {
			e.Reason = t
			break
		}
	}
	if e.Code == "" {
		e.Code = localPart(f.FaultCode)
	}
	if e.Reason == "" {
		e.Reason = strings.TrimSpace(f.FaultString)
	}
	if e.Detail == "" {
		e.Detail = strings.TrimSpace(string(f.FaultDetail))
	}
	return e
}

func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "utf-8", "utf8", "us-ascii", "ascii", "":
		return input, nil
	case "iso-8859-1", "latin1", "latin-1", "iso8859-1":
		return &latin1Reader{r: bufio.NewReader(input)}, nil
	}
	return nil, fmt.Errorf("unsupported charset %q", charset)
}

type latin1Reader struct {
	r   *bufio.Reader
	buf []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(l.buf) > 0 {
			c := copy(p[n:], l.buf)
			l.buf = l.buf[c:]
			n += c
			continue
		}
		b, err := l.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if b < 0x80 {
			p[n] = b
			n++
			continue
		}
		l.buf = []byte(string(rune(b)))
	}
	return n, nil
}

// bodyElement returns the name of the first element inside the SOAP Body.
func bodyElement(data []byte) (string, error) {
	var name string
	err := decodeEnvelope(data, func(d *xml.Decoder, se xml.StartElement) error {
		name = se.Name.Local
		return d.Skip()
	})
	return name, err
}

// decodeEnvelope walks a SOAP envelope and calls fn with the decoder
// positioned on the first Body child. A Fault body yields a *FaultError; any
// XML error, a missing Body or trailing garbage yields ErrMalformed.
func decodeEnvelope(data []byte, fn func(*xml.Decoder, xml.StartElement) error) (err error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = charsetReader
	var fault *FaultError
	depth := 0
	sawEnvelope, sawBody, handled := false, false, false
	for {
		tok, terr := d.Token()
		if terr == io.EOF {
			break
		}
		if terr != nil {
			return malformed("%v", terr)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case depth == 0:
				if t.Name.Local != "Envelope" {
					return malformed("root element is %q, not a SOAP Envelope", t.Name.Local)
				}
				if sawEnvelope {
					return malformed("more than one root element")
				}
				sawEnvelope = true
				depth++
			case depth == 1 && t.Name.Local == "Body" && !sawBody:
				sawBody = true
				depth++
			case depth == 2 && sawBody && !handled:
				handled = true
				if t.Name.Local == "Fault" {
					var f soapFault
					if derr := d.DecodeElement(&f, &t); derr != nil {
						return malformed("fault: %v", derr)
					}
					fault = f.toError()
					continue
				}
				if ferr := fn(d, t); ferr != nil {
					if errors.Is(ferr, ErrMalformed) || errors.Is(ferr, ErrFault) {
						return ferr
					}
					return malformed("%s: %v", t.Name.Local, ferr)
				}
			default:
				if derr := d.Skip(); derr != nil {
					return malformed("%v", derr)
				}
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return malformed("text outside the envelope")
			}
		}
	}
	switch {
	case !sawEnvelope:
		return malformed("no SOAP Envelope")
	case !sawBody:
		return malformed("no SOAP Body")
	case depth != 0:
		return malformed("truncated document")
	case fault != nil:
		return fault
	case !handled:
		return malformed("empty SOAP Body")
	}
	return nil
}

// decodeResponse decodes the first Body child, which must be named expect,
// into v.
func decodeResponse(data []byte, expect string, v any) error {
	return decodeEnvelope(data, func(d *xml.Decoder, se xml.StartElement) error {
		if se.Name.Local != expect {
			return malformed("body element is %q, want %q", se.Name.Local, expect)
		}
		return d.DecodeElement(v, &se)
	})
}

// empty accepts any element content.
type empty struct{}
