package dynamo

// GroupMembers exports groupMembers to the external tests.
var GroupMembers = groupMembers
