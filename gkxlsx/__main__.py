from gkxlsx.cli import main

main()
