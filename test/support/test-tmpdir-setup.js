module.exports = require("./test-tmpdir").setup;
