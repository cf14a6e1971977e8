"""What users type into a search box (shared by the API tests)."""

HOSTILE = ['"unbalanced', "NEAR(a b", "title:foo", "*", "a\x00b", "AND OR", "((", ")", "NOT", "-", "foo AND",
           "'; DROP TABLE items; --", "^drone", "{x}", "\\", "😀", "a" * 1200, "drone & | !swarm", ":*"]
