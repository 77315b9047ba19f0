module.exports = require("./test-tmpdir").teardown;
