package policy

import "testing"

func TestTokenOrigin(t *testing.T) {
	tests := []struct {
		base, want string
		ok         bool
	}{
		{"https://github.com", "https://github.com", true},
		{"https://GitHub.com:443/", "https://github.com", true},
		{"https://ghe.example.com:8443/api/v3", "https://ghe.example.com:8443", true},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{"http://localhost", "http://localhost", true},
		{"http://127.1.2.3:80/mirror", "http://127.1.2.3", true},
		{"http://github.com", "", false},
		{"http://10.0.0.1:8080", "", false},
		{"http://localhost.evil.com", "", false},
		{"http://127.0.0.1.nip.io", "", false},
		{"ftp://github.com", "", false},
		{"https://user:pw@github.com", "", false},
		{"https://[::1]:8080", "", false},
		{"", "", false},
		{"github.com", "", false},
	}
	for _, tt := range tests {
		got, err := TokenOrigin(tt.base)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("TokenOrigin(%q) = %q, %v; want %q, ok %v", tt.base, got, err, tt.want, tt.ok)
		}
	}
}

func TestTokenMayReach(t *testing.T) {
	tests := []struct {
		base, target string
		want         bool
	}{
		{"https://github.com", "https://github.com/owner/repo.git", true},
		{"https://github.com/", "https://GITHUB.com:443/owner/repo.git", true},
		{"https://ghe.example.com:8443/api", "https://ghe.example.com:8443/o/r.git", true},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/o/r.git", true},

		// Another host, even one an allow-list admits.
		{"https://github.com", "https://gitlab.com/owner/repo.git", false},
		{"https://github.com", "https://github.com.evil.io/owner/repo.git", false},
		{"https://github.com", "https://api.github.com/owner/repo.git", false},
		{"http://127.0.0.1:8080", "http://localhost:8080/o/r.git", false},
		// Another port or scheme of the same host.
		{"https://github.com", "https://github.com:8443/owner/repo.git", false},
		{"https://github.com", "http://github.com/owner/repo.git", false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:9090/o/r.git", false},
		{"http://127.0.0.1:8080", "https://127.0.0.1:8080/o/r.git", false},
		// A base that cannot carry a token sends it nowhere, not even to
		// itself.
		{"http://github.com", "http://github.com/owner/repo.git", false},
		{"", "https://github.com/owner/repo.git", false},
		// A target with its own credentials, or unreadable.
		{"https://github.com", "https://x:y@github.com/owner/repo.git", false},
		{"https://github.com", "://github.com", false},
	}
	for _, tt := range tests {
		if got := TokenMayReach(tt.base, tt.target); got != tt.want {
			t.Errorf("TokenMayReach(%q, %q) = %v; want %v", tt.base, tt.target, got, tt.want)
		}
	}
}
