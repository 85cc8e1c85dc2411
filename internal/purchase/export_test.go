package purchase

// ValidJSON exposes validJSON to the external tests.
var ValidJSON = validJSON
