# begin stolos app names
BEGIN { bs = sprintf("%c", 92); dq = sprintf("%c", 34); tab = sprintf("%c", 9); cr = sprintf("%c", 13) }
{
	n = length($0)
	for (i = 1; i <= n; i++) {
		c = substr($0, i, 1)
		if (instr) {
			if (esc) esc = 0
			else if (c == bs) esc = 1
			else if (c == dq) { instr = 0; if (depth == 1) { key = s; have = 1 }; continue }
			s = s c
			continue
		}
		if (c == " " || c == tab || c == cr) continue
		if (have && c == ":") print key
		have = 0
		if (c == dq) { instr = 1; s = "" }
		else if (c == "{" || c == "[") depth++
		else if (c == "}" || c == "]") depth--
	}
}
# end stolos app names
